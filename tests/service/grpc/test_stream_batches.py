"""Batched ``ClassifyStream`` messages (``ClassifyRequest.batch``): each request answered as if sent alone,
in order, in one message; malformed containers refused with INVALID_ARGUMENT, the stream going on."""

from __future__ import annotations

import pytest
from classifier_client import AsyncClassifierClient, ClassifyResult, InvalidArgument, NotFound, build_request
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from grpc import StatusCode
from grpc.aio import AioRpcError

from service.grpc.servicer import MAX_STREAM_BATCH
from training.testing import TINY_LABELS, TINY_MODALITIES, tiny_input

INVALID_ARGUMENT = StatusCode.INVALID_ARGUMENT.value[0]
NOT_FOUND = StatusCode.NOT_FOUND.value[0]


def request_for(model: str, seed: int, top_k: int = 2) -> pb.ClassifyRequest:
    label = TINY_LABELS[model][seed % len(TINY_LABELS[model])]
    raw = tiny_input(model, label, seed=seed)
    kind = TINY_MODALITIES[model]
    item = pb.Input(text=str(raw)) if kind == "text" else pb.Input(**{kind: raw})
    return build_request(model, [item], top_k=top_k)


async def exchange(stub: pb_grpc.ClassifierStub, messages: list[pb.ClassifyRequest]) -> list[pb.ClassifyStreamResponse]:
    call = stub.ClassifyStream(iter(messages), timeout=60)
    return [answer async for answer in call]


async def test_a_batch_answers_each_request_like_a_plain_message(stub: pb_grpc.ClassifierStub) -> None:
    requests = [request_for(model, seed) for seed in range(3) for model in sorted(TINY_MODALITIES)]
    requests.insert(4, build_request("no-such-model", [pb.Input(text="x")]))
    requests.insert(6, build_request("tiny-image", [pb.Input(image=b"not an image")]))

    batched = await exchange(stub, [pb.ClassifyRequest(batch=requests)])
    plain = await exchange(stub, requests)

    assert len(batched) == 1
    assert batched[0].WhichOneof("result") is None
    answers = list(batched[0].batch)
    assert [a.WhichOneof("result") for a in answers] == [p.WhichOneof("result") for p in plain]
    assert answers[4].error.code == NOT_FOUND
    assert answers[6].error.code == INVALID_ARGUMENT
    assert answers[6].error.message == plain[6].error.message
    for answer, alone in zip(answers, plain, strict=True):
        if alone.HasField("error"):
            continue
        got, want = answer.response, alone.response
        assert (got.model, got.version, list(got.labels)) == (want.model, want.version, list(want.labels))
        assert [p.label for p in got.predictions] == [p.label for p in want.predictions]
        assert [[s.label for s in p.top_k] for p in got.predictions] == [
            [s.label for s in p.top_k] for p in want.predictions
        ]
        # Equal up to float rounding: rows batched together run through kernels of another batch size.
        for p, q in zip(got.predictions, want.predictions, strict=True):
            assert list(p.probabilities) == pytest.approx(list(q.probabilities), abs=1e-5)


async def test_batched_and_plain_messages_mix_in_one_stream_in_order(stub: pb_grpc.ClassifierStub) -> None:
    first = [request_for("tiny-text", seed) for seed in range(3)]
    alone = request_for("tiny-image", 7)
    last = [request_for("tiny-audio", seed) for seed in range(2)]

    answers = await exchange(stub, [pb.ClassifyRequest(batch=first), alone, pb.ClassifyRequest(batch=last)])

    assert [len(a.batch) for a in answers] == [3, 0, 2]
    assert answers[1].response.model == "tiny-image"
    assert {a.response.model for a in answers[0].batch} == {"tiny-text"}
    assert {a.response.model for a in answers[2].batch} == {"tiny-audio"}


async def test_a_container_with_its_own_fields_is_refused_and_the_stream_goes_on(stub: pb_grpc.ClassifierStub) -> None:
    container = pb.ClassifyRequest(model="tiny-text", batch=[request_for("tiny-text", 1)])
    answers = await exchange(stub, [container, request_for("tiny-text", 2)])

    assert answers[0].error.code == INVALID_ARGUMENT
    assert "'batch' carries its requests only" in answers[0].error.message
    assert answers[1].response.model == "tiny-text"


async def test_a_batch_past_the_limit_is_refused(stub: pb_grpc.ClassifierStub) -> None:
    text = request_for("tiny-text", 1)
    answers = await exchange(stub, [pb.ClassifyRequest(batch=[text] * (MAX_STREAM_BATCH + 1))])

    assert answers[0].error.code == INVALID_ARGUMENT
    assert f"the limit is {MAX_STREAM_BATCH}" in answers[0].error.message


async def test_a_nested_batch_fails_alone(stub: pb_grpc.ClassifierStub) -> None:
    text = request_for("tiny-text", 1)
    answers = await exchange(stub, [pb.ClassifyRequest(batch=[text, pb.ClassifyRequest(batch=[text])])])

    inner = list(answers[0].batch)
    assert inner[0].response.model == "tiny-text"
    assert inner[1].error.code == INVALID_ARGUMENT
    assert "batches do not nest" in inner[1].error.message


async def test_unary_classify_refuses_a_batch(stub: pb_grpc.ClassifierStub) -> None:
    with pytest.raises(AioRpcError) as caught:
        await stub.Classify(pb.ClassifyRequest(batch=[request_for("tiny-text", 1)]), timeout=10)

    assert caught.value.code() == StatusCode.INVALID_ARGUMENT
    assert "'batch' is for ClassifyStream messages only" in (caught.value.details() or "")


async def test_client_batch_size_gives_the_unbatched_answers(client: AsyncClassifierClient) -> None:
    requests = [request_for("tiny-text", seed, top_k=1) for seed in range(7)]
    requests.insert(3, build_request("no-such-model", [pb.Input(text="x")]))

    batched = [item async for item in client.classify_stream(requests, timeout=60, batch_size=3)]
    plain = [item async for item in client.classify_stream(requests, timeout=60)]

    assert [type(i) for i in batched] == [type(i) for i in plain]
    assert isinstance(batched[3], NotFound)
    for got, want in zip(batched, plain, strict=True):
        if isinstance(want, ClassifyResult):
            assert isinstance(got, ClassifyResult)
            assert got.prediction.label == want.prediction.label
            assert got.prediction.probabilities == pytest.approx(want.prediction.probabilities, abs=1e-5)


async def test_client_refuses_a_batch_size_out_of_range(client: AsyncClassifierClient) -> None:
    for size in (0, MAX_STREAM_BATCH + 1):
        with pytest.raises(ValueError, match="batch_size"):
            [item async for item in client.classify_stream([request_for("tiny-text", 1)], batch_size=size)]


async def test_a_container_given_to_the_batching_client_fails_alone(client: AsyncClassifierClient) -> None:
    requests = [pb.ClassifyRequest(batch=[request_for("tiny-text", 1)])]  # a container inside a container
    items = [item async for item in client.classify_stream(requests, timeout=60, batch_size=2)]

    assert len(items) == 1
    assert isinstance(items[0], InvalidArgument)
