"""Multipart and raw classify bodies, and the Content-Types a classify request may not carry."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from rest_support import assert_answers, assert_problem

from training.testing import tiny_input


def _raw(name: str, label: str, seed: int = 0) -> bytes:
    raw = tiny_input(name, label, seed=seed)
    assert isinstance(raw, bytes)
    return raw


async def test_multipart_files_keep_their_order(client: httpx.AsyncClient, tiny_models: Path) -> None:
    clips = [_raw("tiny-audio", label, 20 + i) for i, label in enumerate(["low", "high", "mid"])]
    files = [("file", (f"{i}.wav", clip, "audio/wav")) for i, clip in enumerate(clips)]
    response = await client.post("/v1/models/tiny-audio:classify", files=files, data={"top_k": "2"})

    assert response.status_code == 200, response.text
    assert_answers(response.json(), tiny_models / "tiny-audio" / "1", clips)
    assert all(len(p["top_k"]) == 2 for p in response.json()["predictions"])


async def test_multipart_text_fields_and_text_file(client: httpx.AsyncClient, tiny_models: Path) -> None:
    sport = tiny_input("tiny-text", "sport", seed=5)
    weather = tiny_input("tiny-text", "weather", seed=6)
    food = tiny_input("tiny-text", "food", seed=7)
    assert isinstance(food, str)
    response = await client.post(
        "/v1/models/tiny-text:classify",
        data={"text": [sport, weather]},
        files=[("file", ("note.txt", food.encode("utf-16"), "text/plain; charset=utf-16"))],
    )

    assert response.status_code == 200, response.text
    # httpx sends the fields before the files.
    assert_answers(response.json(), tiny_models / "tiny-text" / "1", [sport, weather, food])


async def test_multipart_unknown_part_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/models/tiny-image:classify",
        files=[("image", ("a.png", _raw("tiny-image", "cross"), "image/png"))],
    )
    body = assert_problem(response, 422, "schema-violation")
    assert body["errors"] == [{"loc": ["body", "image"], "msg": "unexpected file 'image'", "type": "extra_forbidden"}]


async def test_multipart_without_instances_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/tiny-text:classify", files=[("top_k", (None, "1"))])
    assert_problem(response, 422, "schema-violation")


async def test_multipart_bad_top_k_is_422(client: httpx.AsyncClient) -> None:
    fields = [("text", (None, "rain")), ("top_k", (None, "many"))]
    response = await client.post("/v1/models/tiny-text:classify", files=fields)
    body = assert_problem(response, 422, "schema-violation", detail_has="top_k")
    assert body["errors"][0]["loc"] == ["body", "top_k"]


async def test_multipart_without_boundary_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/models/tiny-text:classify", content=b"text=rain", headers={"content-type": "multipart/form-data"}
    )
    assert_problem(response, 400, "invalid-input", detail_has="multipart")


@pytest.mark.parametrize("media_type", ["image/png", "image/anything"])
async def test_raw_image_body(client: httpx.AsyncClient, tiny_models: Path, media_type: str) -> None:
    png = _raw("tiny-image", "circle", seed=4)
    response = await client.post(
        "/v1/models/tiny-image:classify",
        content=png,
        headers={"content-type": media_type},
        params={"top_k": 1},
    )
    assert response.status_code == 200, response.text
    assert_answers(response.json(), tiny_models / "tiny-image" / "1", [png])
    assert len(response.json()["predictions"][0]["top_k"]) == 1


@pytest.mark.parametrize("media_type", ["audio/wav", "audio/x-wav", "audio/wave"])
async def test_raw_wav_body(client: httpx.AsyncClient, tiny_models: Path, media_type: str) -> None:
    wav = _raw("tiny-audio", "mid", seed=8)
    response = await client.post("/v1/models/tiny-audio:classify", content=wav, headers={"content-type": media_type})
    assert response.status_code == 200, response.text
    assert_answers(response.json(), tiny_models / "tiny-audio" / "1", [wav])


async def test_raw_text_honours_charset(client: httpx.AsyncClient, tiny_models: Path) -> None:
    text = "Café, pizza and cheese and bread."
    latin1 = await client.post(
        "/v1/models/tiny-text:classify",
        content=text.encode("latin-1"),
        headers={"content-type": "text/plain; charset=ISO-8859-1"},
    )
    utf8 = await client.post(
        "/v1/models/tiny-text:classify", content=text.encode(), headers={"content-type": "text/plain"}
    )
    assert latin1.status_code == 200 and utf8.status_code == 200, (latin1.text, utf8.text)
    assert latin1.json() == utf8.json()
    assert_answers(utf8.json(), tiny_models / "tiny-text" / "1", [text])


async def test_raw_text_undecodable_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/models/tiny-text:classify", content=b"\xff\xfe\xfa", headers={"content-type": "text/plain; charset=utf-8"}
    )
    assert_problem(response, 400, "invalid-input", detail_has="utf-8")


async def test_raw_text_unknown_charset_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/models/tiny-text:classify", content=b"rain", headers={"content-type": "text/plain; charset=klingon"}
    )
    assert_problem(response, 415, "unsupported-media-type", detail_has="klingon")


async def test_raw_wav_sent_to_text_model_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/models/tiny-text:classify", content=_raw("tiny-audio", "low"), headers={"content-type": "audio/wav"}
    )
    assert_problem(response, 400, "invalid-input")


@pytest.mark.parametrize("media_type", ["application/xml", "audio/mpeg", "application/x-www-form-urlencoded", None])
async def test_other_content_types_are_415(client: httpx.AsyncClient, media_type: str | None) -> None:
    headers = {"content-type": media_type} if media_type else {}
    response = await client.post("/v1/models/tiny-text:classify", content=b"<text>rain</text>", headers=headers)
    body = assert_problem(response, 415, "unsupported-media-type", detail_has="application/json")
    assert "multipart/form-data" in body["accepted"]
