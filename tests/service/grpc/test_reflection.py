"""Server reflection is enough to call the service: no .proto file and no compiled classifier stubs.

The messages are built from the FileDescriptorProto the server sends, in a fresh descriptor pool, so
nothing from ``classifier_client`` (already loaded in this process) can stand in for them.
"""

from __future__ import annotations

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from service.gateway import Gateway
from training.testing import tiny_input

SERVICE = "classifier.v1.Classifier"


async def reflect(channel: grpc.aio.Channel, request: reflection_pb2.ServerReflectionRequest) -> object:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo(iter([request]), timeout=10)
    responses = [response async for response in call]
    assert len(responses) == 1
    return responses[0]


async def test_reflection_lists_the_services(channel: grpc.aio.Channel) -> None:
    answer = await reflect(channel, reflection_pb2.ServerReflectionRequest(list_services=""))

    names = {s.name for s in answer.list_services_response.service}  # type: ignore[attr-defined]
    assert names >= {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}


async def test_call_classify_with_messages_built_from_reflection(gateway: Gateway, channel: grpc.aio.Channel) -> None:
    answer = await reflect(channel, reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE))
    pool = descriptor_pool.DescriptorPool()
    for raw in answer.file_descriptor_response.file_descriptor_proto:  # type: ignore[attr-defined]
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(raw))
    method = pool.FindServiceByName(SERVICE).FindMethodByName("Classify")
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)

    request = request_class(model="tiny-image", top_k=2)
    request.inputs.add(image=tiny_input("tiny-image", "square", seed=5))
    classify = channel.unary_unary(
        f"/{SERVICE}/Classify",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    response = await classify(request, timeout=30)

    assert response.model == "tiny-image"
    assert response.version == 1
    assert list(response.labels) == ["circle", "cross", "square"]
    assert response.predictions[0].label == "square"
    assert len(response.predictions[0].top_k) == 2
    assert len(response.predictions[0].probabilities) == 3
