"""Messages that do not parse (garbage, truncated, invalid UTF-8 in a string field) are INVALID_ARGUMENT,
never UNKNOWN or INTERNAL, and in a stream only the bad request gets an error (finding 7)."""

from __future__ import annotations

import grpc
import pytest
from classifier_client.v1 import classifier_pb2 as pb

from service.gateway import Gateway

METHOD = "/classifier.v1.Classifier/"
VALID = pb.ClassifyRequest(model="tiny-text", inputs=[pb.Input(text="rain and wind")]).SerializeToString()
# Field 1 (model, a string) holding bytes that are not UTF-8.
BAD_UTF8 = b"\x0a\x02\xff\xfe" + VALID[len(b"\x0a\x09tiny-text") :]
GARBAGE = b"\xff\xff\xff\xff\xff\xff"
TRUNCATED = VALID[:-3]


@pytest.mark.parametrize("raw", [BAD_UTF8, GARBAGE, TRUNCATED], ids=["invalid-utf8", "garbage", "truncated"])
@pytest.mark.parametrize("method", ["Classify", "GetModel"])
async def test_an_unparsable_message_is_invalid_argument(channel: grpc.aio.Channel, method: str, raw: bytes) -> None:
    call = channel.unary_unary(METHOD + method, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(raw, timeout=30)

    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == f"the request is not a valid classifier.v1.{method}Request message"


async def test_a_stream_answers_every_request_and_an_error_for_the_unparsable_one(
    channel: grpc.aio.Channel,
) -> None:
    call = channel.stream_stream(
        METHOD + "ClassifyStream", request_serializer=None, response_deserializer=pb.ClassifyStreamResponse.FromString
    )
    answers = [answer async for answer in call(iter([VALID, BAD_UTF8, VALID, GARBAGE, VALID]), timeout=60)]

    assert [a.WhichOneof("result") for a in answers] == ["response", "error", "response", "error", "response"]
    assert answers[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "not a valid classifier.v1.ClassifyRequest" in answers[1].error.message
    # The same text each time (probabilities may differ in the last bits with the batch they ran in).
    assert {a.response.predictions[0].label for a in answers[::2]} == {answers[0].response.predictions[0].label}
    for answer in answers[2::2]:
        assert list(answer.response.predictions[0].probabilities) == pytest.approx(
            list(answers[0].response.predictions[0].probabilities)
        )


async def test_the_valid_message_still_classifies(gateway: Gateway, channel: grpc.aio.Channel) -> None:
    call = channel.unary_unary(
        METHOD + "Classify", request_serializer=None, response_deserializer=pb.ClassifyResponse.FromString
    )
    answer = await call(VALID, timeout=30)
    assert answer.model == "tiny-text" and len(answer.predictions) == 1
