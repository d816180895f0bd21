"""A small scripted ``classifier.v1`` server for the client tests.

The client is what these tests are about, so the server is a plain grpc.aio servicer that records what
it received and fails on command (``fail_next``) with the status codes the real gateway uses. The real
gateway is driven by ``tests/service/grpc``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc

LABELS = ("cat", "dog", "fish")


def canned_response(request: pb.ClassifyRequest) -> pb.ClassifyResponse:
    """A deterministic answer: input i gets label i % 3 with probability 0.7, the others 0.2 and 0.1."""
    predictions = []
    for index, _ in enumerate(request.inputs):
        best = index % len(LABELS)
        probabilities = [0.1] * len(LABELS)
        probabilities[best] = 0.7
        probabilities[(best + 1) % len(LABELS)] = 0.2
        ranked = sorted(range(len(LABELS)), key=lambda j: -probabilities[j])[: request.top_k or len(LABELS)]
        predictions.append(
            pb.Prediction(
                label=LABELS[best],
                score=probabilities[best],
                top_k=[pb.ScoredLabel(label=LABELS[j], score=probabilities[j]) for j in ranked],
                probabilities=probabilities,
            )
        )
    version = request.version if request.WhichOneof("version_choice") == "version" else 3
    return pb.ClassifyResponse(model=request.model, version=version, labels=LABELS, predictions=predictions)


class ScriptedServicer(pb_grpc.ClassifierServicer):
    """Answers ``canned_response``; fails the next calls with the codes queued in ``fail_next``."""

    def __init__(self) -> None:
        self.requests: list[pb.ClassifyRequest] = []
        self.fail_next: list[grpc.StatusCode] = []

    async def _maybe_fail(self, context: grpc.aio.ServicerContext) -> None:
        if self.fail_next:
            code = self.fail_next.pop(0)
            await context.abort(code, f"scripted {code.name}")

    async def Classify(self, request: pb.ClassifyRequest, context: grpc.aio.ServicerContext) -> pb.ClassifyResponse:
        self.requests.append(request)
        await self._maybe_fail(context)
        return canned_response(request)

    async def ClassifyStream(
        self, request_iterator: AsyncIterator[pb.ClassifyRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ClassifyStreamResponse]:
        async for request in request_iterator:
            self.requests.append(request)
            if not request.batch:
                yield stream_answer(request)
            elif any(r.model == "refuse-batch" for r in request.batch):
                # The gateway refuses a whole message (too many requests, no byte budget) with one error.
                yield pb.ClassifyStreamResponse(error=pb.Error(code=8, message="the batch was refused"))
            else:
                yield pb.ClassifyStreamResponse(batch=[stream_answer(r) for r in request.batch])

    async def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListModelsResponse:
        await self._maybe_fail(context)
        return pb.ListModelsResponse(models=[pb.ModelInfo(name="pets", labels=LABELS)])

    async def GetModel(self, request: pb.GetModelRequest, context: grpc.aio.ServicerContext) -> pb.ModelInfo:
        await self._maybe_fail(context)
        if request.name != "pets":
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no model '{request.name}'")
        info = pb.ModelInfo(
            name="pets",
            modality="image",
            labels=LABELS,
            versions=[pb.VersionInfo(version=3, state="AVAILABLE"), pb.VersionInfo(version=2, state="END", error="x")],
            default_version=3,
            version_labels={"stable": 3},
        )
        info.input_limits.max_instances = 64
        info.input_limits.max_audio_seconds = 30.0
        return info


def stream_answer(request: pb.ClassifyRequest) -> pb.ClassifyStreamResponse:
    """The stream's answer to one request: NOT_FOUND for model ``missing``, else the canned response."""
    if request.model == "missing":
        return pb.ClassifyStreamResponse(error=pb.Error(code=5, message="no model 'missing'"))
    return pb.ClassifyStreamResponse(response=canned_response(request))


class ScriptedServer:
    """A started grpc.aio server with a ``ScriptedServicer``; ``target`` is its address."""

    def __init__(self, port: int = 0) -> None:
        self.servicer = ScriptedServicer()
        limit = 32 * 1024 * 1024  # the gateway's default, past gRPC's 4 MiB
        self.server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
            ]
        )
        pb_grpc.add_ClassifierServicer_to_server(self.servicer, self.server)  # type: ignore[no-untyped-call]
        self.port = self.server.add_insecure_port(f"127.0.0.1:{port}")
        self.target = f"127.0.0.1:{self.port}"

    async def start(self) -> ScriptedServer:
        await self.server.start()
        return self

    async def stop(self) -> None:
        await self.server.stop(None)
