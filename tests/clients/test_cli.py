"""``python -m classifier_client``: one line to classify, JSON out, exit codes."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from scripted_server import ScriptedServer


async def _cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "classifier_client",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_classify_an_image_file_prints_the_result_as_json(scripted: ScriptedServer, tmp_path: Path) -> None:
    image = tmp_path / "x.png"
    image.write_bytes(b"png bytes")

    code, out, err = await _cli(
        "classify", "--target", scripted.target, "--model", "pets", "--image", str(image), "--top-k", "2"
    )

    assert code == 0, err
    body = json.loads(out)
    assert body["model"] == "pets"
    assert body["predictions"][0]["label"] == "cat"
    assert len(body["predictions"][0]["top_k"]) == 2
    assert scripted.servicer.requests[0].inputs[0].image == b"png bytes"


async def test_classify_several_texts_with_a_version_label(scripted: ScriptedServer) -> None:
    code, out, err = await _cli(
        "--target", scripted.target, "classify", "--model", "pets", "--text", "a", "--text", "b", "--label", "stable"
    )

    assert code == 0, err
    assert [p["label"] for p in json.loads(out)["predictions"]] == ["cat", "dog"]
    assert scripted.servicer.requests[0].version_label == "stable"


async def test_a_refused_call_exits_1_with_the_gateway_message(scripted: ScriptedServer) -> None:
    code, out, err = await _cli("--target", scripted.target, "model", "cats")

    assert code == 1
    assert out == ""
    assert "NOT_FOUND: no model 'cats'" in err


async def test_models_lists_the_served_models(scripted: ScriptedServer) -> None:
    code, out, _ = await _cli("--target", scripted.target, "models")

    assert code == 0
    assert [m["name"] for m in json.loads(out)] == ["pets"]
