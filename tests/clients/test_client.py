"""The client's helpers: what they send, what they return, deadlines and message limits."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import grpc
import pytest
from classifier_client import (
    AsyncClassifierClient,
    ClassifierClient,
    ClassifierError,
    ClassifyResult,
    DeadlineExceeded,
    InputLimits,
    NotFound,
    Overloaded,
    VersionInfo,
    build_request,
)
from classifier_client.client import MAX_STREAM_BATCH
from classifier_client.v1 import classifier_pb2 as pb
from scripted_server import LABELS, ScriptedServer


async def test_classify_image_reads_the_file_and_pins_the_version(scripted: ScriptedServer, tmp_path: Path) -> None:
    image = tmp_path / "x.png"
    image.write_bytes(b"\x89PNG fake")
    async with AsyncClassifierClient(scripted.target) as client:
        result = await client.classify_image("pets", image, version=7, top_k=2)

    sent = scripted.servicer.requests[0]
    assert sent.model == "pets"
    assert [i.WhichOneof("kind") for i in sent.inputs] == ["image"]
    assert sent.inputs[0].image == b"\x89PNG fake"
    assert sent.WhichOneof("version_choice") == "version"
    assert sent.version == 7
    assert sent.top_k == 2
    assert result.version == 7
    assert [s.label for s in result.prediction.top_k] == ["cat", "dog"]


async def test_classify_audio_sends_bytes_and_label(scripted: ScriptedServer) -> None:
    async with AsyncClassifierClient(scripted.target) as client:
        await client.classify_audio("pets", [b"RIFF one", bytearray(b"RIFF two")], label="canary")

    sent = scripted.servicer.requests[0]
    assert [i.audio for i in sent.inputs] == [b"RIFF one", b"RIFF two"]
    assert sent.WhichOneof("version_choice") == "version_label"
    assert sent.version_label == "canary"
    assert sent.top_k == 0  # the gateway's default


async def test_classify_text_accepts_one_or_many(scripted: ScriptedServer) -> None:
    async with AsyncClassifierClient(scripted.target) as client:
        one = await client.classify_text("pets", "a single text")
        many = await client.classify_text("pets", ["first", "second", "third"])

    assert [i.text for i in scripted.servicer.requests[0].inputs] == ["a single text"]
    assert [i.text for i in scripted.servicer.requests[1].inputs] == ["first", "second", "third"]
    assert len(one.predictions) == 1
    assert [p.label for p in many.predictions] == ["cat", "dog", "fish"]


async def test_results_are_dataclasses_with_probabilities_by_label(scripted: ScriptedServer) -> None:
    async with AsyncClassifierClient(scripted.target) as client:
        result = await client.classify_text("pets", ["a", "b"])

    assert isinstance(result, ClassifyResult)
    second = result.predictions[1]
    assert list(second.probabilities) == list(LABELS)
    assert second.probabilities["dog"] == pytest.approx(0.7)
    assert second.score == second.probabilities[second.label]
    body = dataclasses.asdict(result)
    assert set(body) == {"model", "version", "predictions"}
    assert set(body["predictions"][0]) == {"label", "score", "top_k", "probabilities", "abstained"}
    assert body["predictions"][0]["abstained"] is False


async def test_sync_helpers_match_async(scripted: ScriptedServer) -> None:
    # The sync client blocks, so it runs in a thread while the server answers on the test's loop.
    with ClassifierClient(scripted.target) as sync_client:
        sync_result = await asyncio.to_thread(sync_client.classify_image, "pets", [b"a", b"b"], top_k=1)
    async with AsyncClassifierClient(scripted.target) as async_client:
        async_result = await async_client.classify_image("pets", [b"a", b"b"], top_k=1)

    assert sync_result == async_result
    assert scripted.servicer.requests[0] == scripted.servicer.requests[1]


async def test_version_and_label_together_are_refused_before_sending(scripted: ScriptedServer) -> None:
    async with AsyncClassifierClient(scripted.target) as client:
        with pytest.raises(ValueError, match="not both"):
            await client.classify_text("pets", "x", version=1, label="stable")
        with pytest.raises(ValueError, match="top_k"):
            await client.classify_text("pets", "x", top_k=0)

    assert scripted.servicer.requests == []


async def test_get_model_converts_optional_fields(scripted: ScriptedServer) -> None:
    async with AsyncClassifierClient(scripted.target) as client:
        info = await client.get_model("pets")
        listed = await client.list_models()
        with pytest.raises(NotFound, match="no model 'cats'"):
            await client.get_model("cats")

    assert info.modality == "image"
    assert info.default_version == 3
    assert info.versions == (VersionInfo(3, "AVAILABLE", None), VersionInfo(2, "END", "x"))
    assert info.version_labels == {"stable": 3}
    assert info.input_limits == InputLimits(0, 64, 0, 30.0, 0)
    unset = listed[0]
    assert (unset.modality, unset.default_version, unset.spec_hash, unset.input_limits) == (None, None, None, None)


async def test_stream_yields_results_and_per_request_errors_in_order(scripted: ScriptedServer) -> None:
    requests = [
        build_request("pets", [pb.Input(text="a")]),
        build_request("missing", [pb.Input(text="b")]),
        build_request("pets", [pb.Input(text="c"), pb.Input(text="d")], version=9),
    ]
    async with AsyncClassifierClient(scripted.target) as client:
        items = [item async for item in client.classify_stream(requests)]

    assert isinstance(items[0], ClassifyResult)
    assert isinstance(items[1], NotFound)
    assert items[1].details == "no model 'missing'"
    assert isinstance(items[2], ClassifyResult)
    assert items[2].version == 9
    assert len(items[2].predictions) == 2


async def test_sync_stream_matches_async(scripted: ScriptedServer) -> None:
    requests = [build_request("pets", [pb.Input(text=str(i))]) for i in range(5)]
    with ClassifierClient(scripted.target) as client:
        items = await asyncio.to_thread(lambda: list(client.classify_stream(requests)))

    assert [type(i) for i in items] == [ClassifyResult] * 5


async def test_batched_stream_sends_containers_and_yields_one_item_per_request(scripted: ScriptedServer) -> None:
    requests = [build_request("pets", [pb.Input(text=str(i))]) for i in range(5)]
    requests[3] = build_request("missing", [pb.Input(text="x")])
    async with AsyncClassifierClient(scripted.target) as client:
        items = [item async for item in client.classify_stream(requests, batch_size=2)]

    assert [len(m.batch) for m in scripted.servicer.requests] == [2, 2, 1]
    assert [r for m in scripted.servicer.requests for r in m.batch] == requests
    assert [type(i) for i in items] == [ClassifyResult, ClassifyResult, ClassifyResult, NotFound, ClassifyResult]


async def test_a_refused_batch_gives_its_error_to_each_of_its_requests(scripted: ScriptedServer) -> None:
    requests = [build_request(model, [pb.Input(text="a")]) for model in ("pets", "refuse-batch", "pets")]
    with ClassifierClient(scripted.target) as client:
        items = await asyncio.to_thread(lambda: list(client.classify_stream(requests, batch_size=2)))

    assert [type(i) for i in items] == [Overloaded, Overloaded, ClassifyResult]
    assert items[0].details == "the batch was refused"


async def test_batch_size_one_sends_plain_messages_and_out_of_range_is_refused(scripted: ScriptedServer) -> None:
    requests = [build_request("pets", [pb.Input(text=str(i))]) for i in range(2)]
    with ClassifierClient(scripted.target) as client:
        items = await asyncio.to_thread(lambda: list(client.classify_stream(requests, batch_size=1)))
        with pytest.raises(ValueError, match="batch_size"):
            list(client.classify_stream(requests, batch_size=MAX_STREAM_BATCH + 1))

    assert scripted.servicer.requests == requests
    assert [type(i) for i in items] == [ClassifyResult] * 2


async def test_deadline_passes_as_deadline_exceeded() -> None:
    # A server that never answers: the call must end at the client's deadline.
    server = grpc.aio.server()
    never = asyncio.Event()

    async def hang(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await never.wait()
        return b""

    handler = grpc.method_handlers_generic_handler(
        "classifier.v1.Classifier", {"Classify": grpc.unary_unary_rpc_method_handler(hang)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with AsyncClassifierClient(f"127.0.0.1:{port}") as client:
            with pytest.raises(DeadlineExceeded):
                await client.classify_text("pets", "x", timeout=0.2)
    finally:
        await server.stop(None)


async def test_message_limit_is_enforced_on_send(scripted: ScriptedServer) -> None:
    async with AsyncClassifierClient(scripted.target, max_message_bytes=1024) as client:
        with pytest.raises(ClassifierError) as caught:
            await client.classify_image("pets", b"x" * 4096)

    assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert scripted.servicer.requests == []


async def test_default_limit_carries_messages_past_grpc_4mib_default(scripted: ScriptedServer) -> None:
    big = b"x" * (6 * 1024 * 1024)
    async with AsyncClassifierClient(scripted.target) as client:
        await client.classify_image("pets", big)

    assert len(scripted.servicer.requests[0].inputs[0].image) == len(big)
