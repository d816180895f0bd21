"""Locust users of the Open Inference Protocol (V2), sending through Triton's own client (``tritonclient``).

``V2RestUser`` (``tritonclient.http``: geventhttpclient, at home in locust's gevent) and ``V2GrpcUser``
(``tritonclient.grpc`` on the gevent-friendly gRPC the locustfile's init hook sets up) send the same real
samples as the other users, one BYTES element per request in binary form, and ask for ``probabilities``.
Opt-in: their weights default to 0 (``--weight-v2-rest 2 --weight-v2-grpc 2`` or ``LOADTEST_WEIGHT_V2_*``),
so the default load test is unchanged. Request names: ``V2 REST <modality>`` and ``V2 gRPC <modality>``.
tritonclient is imported when such a user starts, so the locustfile runs without it otherwise.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
from locust import User, between, tag

from loadtest.samples import MODALITIES, Modality, Sample, cycle_from

TaskFunction = Callable[[Any], None]
# The locustfile's catalogue, handed over by the locustfile itself: locust imports it under its own module
# name, so importing ``loadtest.locustfile`` from here would build a second, empty copy.
_catalogue: Callable[[], Any] | None = None


def use_catalogue(source: Callable[[], Any]) -> None:
    """Where V2 users find the samples and targets (the locustfile's ``catalogue``)."""
    global _catalogue
    _catalogue = source


def v2_element(sample: Sample) -> np.ndarray:
    """One sample as a BYTES tensor of shape [1]: a text's UTF-8 bytes, a file's bytes."""
    content = sample.content.encode("utf-8") if isinstance(sample.content, str) else sample.content
    return np.array([content], dtype=np.object_)


class V2User(User):
    """What both V2 users share: a tritonclient client, prepared inputs per modality, reporting to locust."""

    abstract = True
    # Locust drops weight-0 classes before the init hook reads the options, so the class weight is 1 and
    # the option's default (what the init hook applies) is 0.
    weight = 1
    default_weight: ClassVar[int] = 0
    wait_time = between(0, 0)
    protocol: ClassVar[str]
    weight_key: ClassVar[str]

    def on_start(self) -> None:
        """Open this user's client and prepare its inputs from the catalogue's samples."""
        if _catalogue is None:
            raise RuntimeError("the locustfile has not handed over its catalogue")
        found = _catalogue()
        start = random.randrange(1 << 30)
        self.models = found.models
        self.timeout_s = found.timeout_s
        self.client = self.open(found)
        self.inputs: dict[Modality, Iterator[Any]] = {
            m: cycle_from([self.make_input(s) for s in samples], start) for m, samples in found.samples.items()
        }

    def on_stop(self) -> None:
        """Close the client."""
        self.client.close()

    def open(self, found: Any) -> Any:
        """A tritonclient InferenceServerClient."""
        raise NotImplementedError

    def make_input(self, sample: Sample) -> Any:
        """A tritonclient InferInput holding ``sample``."""
        raise NotImplementedError

    def infer(self, modality: Modality) -> None:
        """One inference, timed and reported whatever its outcome."""
        started = time.perf_counter()
        error: Exception | None = None
        length = 0
        try:
            result = self.client.infer(self.models[modality], [next(self.inputs[modality])], **self.infer_options())
            probabilities = result.as_numpy("probabilities")
            length = probabilities.nbytes
            if probabilities.shape[0] != 1:
                error = RuntimeError(f"{probabilities.shape[0]} rows for 1 input")
        except Exception as exc:  # tritonclient raises InferenceServerException, transports their own
            error = RuntimeError(str(exc)[:200])
        self.environment.events.request.fire(
            request_type=self.protocol,
            name=f"V2 {self.protocol} {modality}",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=error,
            context={},
        )

    def infer_options(self) -> dict[str, Any]:
        """Extra keyword arguments of ``infer`` (the deadline)."""
        return {}


def _v2_task(modality: Modality) -> TaskFunction:
    def send(user: V2User) -> None:
        user.infer(modality)

    send.__name__ = f"v2_{modality}"
    return tag("v2", modality)(send)


class V2RestUser(V2User):
    """V2 over REST with tritonclient.http, binary tensors, every modality in turn."""

    protocol = "REST"
    weight_key = "v2-rest"
    tasks = [_v2_task(m) for m in MODALITIES]  # noqa: RUF012 (locust reads a class list)

    def open(self, found: Any) -> Any:
        """The HTTP client on the locust host."""
        import tritonclient.http as httpclient

        host = str(self.host or "http://127.0.0.1:8000").split("://", 1)[-1].rstrip("/")
        return httpclient.InferenceServerClient(host, network_timeout=found.timeout_s)

    def make_input(self, sample: Sample) -> Any:
        """An InferInput whose data travels in binary form."""
        import tritonclient.http as httpclient

        tensor = httpclient.InferInput("input", [1], "BYTES")
        tensor.set_data_from_numpy(v2_element(sample), binary_data=True)
        return tensor

    def infer_options(self) -> dict[str, Any]:
        """The deadline travels as our X-Request-Timeout header."""
        return {"headers": {"X-Request-Timeout": str(self.timeout_s)}}


class V2GrpcUser(V2User):
    """V2 over gRPC with tritonclient.grpc, every modality in turn."""

    protocol = "gRPC"
    weight_key = "v2-grpc"
    tasks = [_v2_task(m) for m in MODALITIES]  # noqa: RUF012 (locust reads a class list)

    def open(self, found: Any) -> Any:
        """The gRPC client on the gateway's gRPC address."""
        import tritonclient.grpc as grpcclient

        return grpcclient.InferenceServerClient(found.grpc_target)

    def make_input(self, sample: Sample) -> Any:
        """An InferInput (sent in raw_input_contents)."""
        import tritonclient.grpc as grpcclient

        tensor = grpcclient.InferInput("input", [1], "BYTES")
        tensor.set_data_from_numpy(v2_element(sample))
        return tensor

    def infer_options(self) -> dict[str, Any]:
        """The gRPC deadline."""
        return {"client_timeout": self.timeout_s}
