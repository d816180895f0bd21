"""JSON classify bodies: text and base64 instances, the three routes, and every way a body can be wrong."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from rest_support import assert_answers, assert_problem, b64

from training.testing import TINY_LABELS, tiny_input


def _png(label: str = "square", seed: int = 0) -> bytes:
    raw = tiny_input("tiny-image", label, seed=seed)
    assert isinstance(raw, bytes)
    return raw


async def test_classify_text_returns_labelled_probabilities(client: httpx.AsyncClient, tiny_models: Path) -> None:
    text = tiny_input("tiny-text", "sport", seed=1)
    response = await client.post("/v1/models/tiny-text:classify", json={"instances": [{"text": text}], "top_k": 2})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["model"] == "tiny-text" and body["version"] == 1
    [prediction] = body["predictions"]
    assert set(prediction["probabilities"]) == set(TINY_LABELS["tiny-text"])
    assert abs(sum(prediction["probabilities"].values()) - 1) < 1e-5
    assert len(prediction["top_k"]) == 2
    assert prediction["top_k"][0] == {"label": prediction["label"], "score": prediction["score"]}
    assert prediction["top_k"][0]["score"] >= prediction["top_k"][1]["score"]
    assert_answers(body, tiny_models / "tiny-text" / "1", [text])


async def test_classify_b64_images_keeps_instance_order(client: httpx.AsyncClient, tiny_models: Path) -> None:
    images = [_png(label, seed=10 + i) for i, label in enumerate(["circle", "square", "cross", "square"])]
    instances = [{"b64": b64(image)} for image in images]
    response = await client.post("/v1/models/tiny-image:classify", json={"instances": instances})

    assert response.status_code == 200, response.text
    assert_answers(response.json(), tiny_models / "tiny-image" / "1", images)
    predictions = response.json()["predictions"]
    # No top_k asked: the server default (5) capped by the label count.
    assert all(len(p["top_k"]) == len(TINY_LABELS["tiny-image"]) for p in predictions)


async def test_classify_b64_accepts_url_safe_and_unpadded(client: httpx.AsyncClient, tiny_models: Path) -> None:
    wav = tiny_input("tiny-audio", "high", seed=3)
    assert isinstance(wav, bytes)
    url_safe = base64.urlsafe_b64encode(wav).decode().rstrip("=")
    response = await client.post("/v1/models/tiny-audio:classify", json={"instances": [{"b64": url_safe}]})

    assert response.status_code == 200, response.text
    assert_answers(response.json(), tiny_models / "tiny-audio" / "1", [wav])


async def test_classify_pinned_version_and_label(client: httpx.AsyncClient) -> None:
    body = {"instances": [{"text": "rain and snow"}]}
    pinned = await client.post("/v1/models/tiny-text/versions/1:classify", json=body)
    labelled = await client.post("/v1/models/tiny-text/labels/stable:classify", json=body)

    assert pinned.status_code == 200 and labelled.status_code == 200, (pinned.text, labelled.text)
    assert pinned.json() == labelled.json()
    assert pinned.json()["version"] == 1


async def test_classify_top_k_from_query_when_body_has_none(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/models/tiny-text:classify", params={"top_k": 1}, json={"instances": [{"text": "pizza"}]}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"][0]["top_k"]) == 1


async def test_classify_bad_base64_is_400_naming_the_instance(client: httpx.AsyncClient) -> None:
    instances = [{"b64": b64(_png())}, {"b64": "not*base64!"}]
    response = await client.post("/v1/models/tiny-image:classify", json={"instances": instances})
    assert_problem(response, 400, "invalid-input", detail_has="instance 1")


@pytest.mark.parametrize("bad", ["YWJj YWJj", "YWJj\n", "YWJj=", "YWJjZA====", "=YWJj"])
async def test_classify_base64_with_whitespace_or_stray_padding_is_400(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.post("/v1/models/tiny-image:classify", json={"instances": [{"b64": bad}]})
    assert_problem(response, 400, "invalid-input", detail_has="instance 0: 'b64' is not valid base64")


async def test_classify_undecodable_image_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/tiny-image:classify", json={"instances": [{"b64": b64(b"GIF89a..")}]})
    assert_problem(response, 400, "invalid-input", detail_has="instance 0")


async def test_classify_text_sent_to_image_model_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/tiny-image:classify", json={"instances": [{"text": "a square"}]})
    assert_problem(response, 400, "invalid-input", detail_has="instance 0")


async def test_classify_invalid_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/models/tiny-text:classify", content=b'{"instances": [', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "invalid-input", detail_has="not valid JSON")


async def test_classify_schema_violations_are_422_with_locations(client: httpx.AsyncClient) -> None:
    bad = {"instances": [{"text": "a", "b64": "YQ=="}, {"txt": "b"}], "top_k": 0}
    response = await client.post("/v1/models/tiny-text:classify", json=bad)

    body = assert_problem(response, 422, "schema-violation")
    locations = {tuple(error["loc"]) for error in body["errors"]}
    assert ("body", "top_k") in locations
    assert ("body", "instances", 0) in locations
    assert ("body", "instances", 1, "txt") in locations
    assert all(set(error) == {"loc", "msg", "type"} for error in body["errors"])


async def test_classify_empty_instances_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/tiny-text:classify", json={"instances": []})
    assert_problem(response, 422, "schema-violation")


async def test_classify_non_integer_version_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/tiny-text/versions/one:classify", json={"instances": [{"text": "a"}]})
    body = assert_problem(response, 422, "schema-violation")
    assert body["errors"][0]["loc"] == ["path", "version"]


async def test_classify_unknown_model_version_label_are_404(client: httpx.AsyncClient) -> None:
    body = {"instances": [{"text": "rain"}]}
    model = await client.post("/v1/models/no-such-model:classify", json=body)
    version = await client.post("/v1/models/tiny-text/versions/42:classify", json=body)
    label = await client.post("/v1/models/tiny-text/labels/nightly:classify", json=body)
    label_to_missing_version = await client.post("/v1/models/tiny-text/labels/canary:classify", json=body)

    assert_problem(model, 404, "model-not-found", detail_has="no-such-model")
    assert_problem(version, 404, "version-not-found", detail_has="42")
    problem = assert_problem(label, 404, "label-not-found", detail_has="nightly")
    assert problem["known"] == ["canary", "stable"]
    assert_problem(label_to_missing_version, 404, "version-not-found", detail_has="7")


async def test_classify_past_deadline_header_is_504(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/models/tiny-text:classify",
        json={"instances": [{"text": "rain"}]},
        headers={"X-Request-Timeout": "0.000000001"},
    )
    assert_problem(response, 504, "deadline-exceeded")


async def test_classify_bad_deadline_header_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/models/tiny-text:classify", json={"instances": [{"text": "rain"}]}, headers={"X-Request-Timeout": "-1"}
    )
    body = assert_problem(response, 422, "schema-violation")
    assert body["errors"][0]["loc"] == ["header", "X-Request-Timeout"]


async def test_min_confidence_marks_answers_abstained(client: httpx.AsyncClient) -> None:
    texts = [tiny_input("tiny-text", label, seed=1) for label in TINY_LABELS["tiny-text"]]
    body: dict[str, object] = {"instances": [{"text": text} for text in texts]}

    plain = (await client.post("/v1/models/tiny-text:classify", json=body)).json()["predictions"]
    threshold = max(p["score"] for p in plain)  # the most confident answer passes, the others abstain
    strict = await client.post("/v1/models/tiny-text:classify", json={**body, "min_confidence": threshold})
    by_query = await client.post(f"/v1/models/tiny-text:classify?min_confidence={threshold!r}", json=body)
    lenient = await client.post("/v1/models/tiny-text:classify?min_confidence=1", json={**body, "min_confidence": 0})

    assert not any(p["abstained"] for p in plain)  # the tiny versions set no threshold
    assert strict.status_code == 200 and by_query.status_code == 200
    for answer in (strict.json(), by_query.json()):
        predictions = answer["predictions"]
        assert [p["abstained"] for p in predictions] == [p["score"] < threshold for p in plain]
        assert [p["label"] for p in predictions] == [p["label"] for p in plain]
    assert not any(p["abstained"] for p in lenient.json()["predictions"])  # the body's value wins over the query's


async def test_min_confidence_out_of_range_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/models/tiny-text:classify", json={"instances": [{"text": "rain"}], "min_confidence": 1.5}
    )

    assert_problem(response, 422, "schema-violation", detail_has="min_confidence")
