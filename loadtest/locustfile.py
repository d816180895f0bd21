"""Locust users for the classifier gateway: REST per modality and input form, and gRPC.

Run headless through ``make loadtest`` (``loadtest/run.py``), or by hand against a running gateway::

    locust -f loadtest/locustfile.py --headless -u 16 -r 8 -t 60s --host http://127.0.0.1:8000 \
        --grpc-target 127.0.0.1:50051 --tags rest image

Every request sends a real test sample (``data/MODEL/test``), cycling through many files. Tags select
scenarios: ``rest`` / ``grpc`` / ``v2``, ``image`` / ``text`` / ``audio``, and for REST ``json`` / ``multipart`` /
``raw``. The V2 users (``loadtest/v2_users.py``, through tritonclient) run only with a weight above 0
(``--weight-v2-rest``, ``--weight-v2-grpc``). Target models, sample folders and user-class weights are
custom arguments, each also read from a ``LOADTEST_*`` environment variable (``--text-model`` /
``LOADTEST_TEXT_MODEL``).

Request names (the rows of the stats CSV, and the keys of ``thresholds.toml``) are
``REST <modality> <form>``, ``gRPC <modality>``, ``V2 REST <modality>`` and ``V2 gRPC <modality>``.

gRPC runs under gevent: ``grpc.experimental.gevent.init_gevent()`` is called in the ``init`` hook, before
any channel exists, and every call is reported through ``environment.events.request``.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

import grpc
from classifier_client.client import channel_options
from classifier_client.messages import build_request
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from locust import FastHttpUser, User, between, events, tag
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment

from loadtest.samples import (
    DEFAULT_MODELS,
    FORMS,
    MODALITIES,
    Body,
    Form,
    Modality,
    Sample,
    classify_path,
    cycle_from,
    load_samples,
)
from loadtest.samples import rest_body as build_rest_body
from loadtest.v2_users import V2GrpcUser, V2RestUser, use_catalogue

TaskFunction = Callable[[Any], None]


def add_arguments(parser: LocustArgumentParser) -> None:
    """The custom arguments; each also comes from its ``LOADTEST_*`` environment variable."""
    group = parser.add_argument_group("classifier load test")
    for modality in MODALITIES:
        group.add_argument(
            f"--{modality}-model",
            env_var=f"LOADTEST_{modality.upper()}_MODEL",
            default=DEFAULT_MODELS[modality],
            help=f"model that {modality} requests go to",
        )
        group.add_argument(
            f"--{modality}-samples",
            env_var=f"LOADTEST_{modality.upper()}_SAMPLES",
            default="",
            help=f"folder of {modality} test files (default: DATA_DIR/MODEL/test)",
        )
    group.add_argument("--data-dir", env_var="LOADTEST_DATA_DIR", default="data", help="datasets root")
    group.add_argument(
        "--max-samples", env_var="LOADTEST_MAX_SAMPLES", type=int, default=200, help="files per modality"
    )
    group.add_argument("--top-k", env_var="LOADTEST_TOP_K", type=int, default=3, help="top_k of every request")
    group.add_argument(
        "--grpc-target", env_var="LOADTEST_GRPC_TARGET", default="127.0.0.1:50051", help="gateway gRPC address"
    )
    group.add_argument(
        "--request-timeout", env_var="LOADTEST_REQUEST_TIMEOUT", type=float, default=10.0, help="seconds per call"
    )
    group.add_argument(
        "--think-time",
        env_var="LOADTEST_THINK_TIME",
        type=float,
        default=0.0,
        help="upper bound of a random pause between a user's requests, seconds (0: closed loop)",
    )
    for user_class in USER_CLASSES:
        group.add_argument(
            f"--weight-{user_class.weight_key}",
            env_var=f"LOADTEST_WEIGHT_{user_class.weight_key.upper().replace('-', '_')}",
            type=int,
            default=getattr(user_class, "default_weight", user_class.weight),
            help=f"relative number of {user_class.__name__} users (0: none)",
        )


@dataclass
class Catalogue:
    """Everything the users send, built once per locust process from the parsed options."""

    models: dict[Modality, str]
    samples: dict[Modality, list[Sample]]
    top_k: int
    timeout_s: float
    grpc_target: str
    rest: dict[tuple[Modality, Form], list[Body]] = field(default_factory=dict)
    grpc: dict[Modality, list[pb.ClassifyRequest]] = field(default_factory=dict)

    @classmethod
    def from_options(cls, options: Any, modalities: set[Modality]) -> Catalogue:
        """Read the samples of the modalities some remaining task sends, and prepare their requests."""
        models = {m: str(getattr(options, f"{m}_model")) for m in MODALITIES}
        samples: dict[Modality, list[Sample]] = {}
        for modality in sorted(modalities):
            folder = getattr(options, f"{modality}_samples") or Path(options.data_dir) / models[modality] / "test"
            samples[modality] = load_samples(Path(folder), modality, limit=options.max_samples)
        catalogue = cls(models, samples, options.top_k, options.request_timeout, options.grpc_target)
        for modality, found in samples.items():
            for form in FORMS:
                catalogue.rest[modality, form] = [build_rest_body(s, form, options.top_k) for s in found]
            catalogue.grpc[modality] = [
                build_request(models[modality], [_grpc_input(modality, s.content)], top_k=options.top_k) for s in found
            ]
        return catalogue


_catalogue: Catalogue | None = None


def catalogue() -> Catalogue:
    """The catalogue built by the ``init`` hook."""
    if _catalogue is None:
        raise RuntimeError("the locustfile's init hook has not run")
    return _catalogue


use_catalogue(catalogue)


def _grpc_input(modality: Modality, content: bytes | str) -> pb.Input:
    if modality == "text":
        return pb.Input(text=content if isinstance(content, str) else content.decode("utf-8", "replace"))
    data = content.encode("utf-8") if isinstance(content, str) else content
    return pb.Input(image=data) if modality == "image" else pb.Input(audio=data)


# A gateway with authentication on (docker-compose.yml) needs a key with the classify scope.
_API_KEY = os.environ.get("CLASSIFIER_API_KEY", "")
_REST_AUTH = {"Authorization": f"Bearer {_API_KEY}"} if _API_KEY else {}
_GRPC_AUTH = (("authorization", f"Bearer {_API_KEY}"),) if _API_KEY else ()

# -- REST -------------------------------------------------------------------------------------------


def _rest_task(modality: Modality, form: Form) -> TaskFunction:
    """A task sending one ``form`` request of ``modality``, tagged rest, the modality and the form."""

    def send(user: RestUser) -> None:
        body = next(user.bodies[form])
        name = f"REST {modality} {form}"
        headers = {"Content-Type": body.content_type, "X-Request-Timeout": str(user.timeout_s), **_REST_AUTH}
        with user.client.post(
            user.path, data=cast(Any, body.content), headers=headers, name=name, catch_response=True
        ) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
            elif b'"predictions"' not in (resp.content or b""):
                resp.failure("the answer has no predictions")
            else:
                resp.success()

    send.__name__ = f"rest_{modality}_{form}"
    return tag("rest", modality, form)(send)


class RestUser(FastHttpUser):
    """A REST client of one modality, sending each input form in turn (equal task weights)."""

    abstract = True
    modality: ClassVar[Modality]
    weight_key: ClassVar[str]
    wait_time = between(0, 0)
    connection_timeout = 10.0
    network_timeout = 30.0

    def on_start(self) -> None:
        """Pick this user's own place in the sample cycle."""
        found = catalogue()
        start = random.randrange(1 << 30)
        self.path = classify_path(found.models[self.modality])
        self.timeout_s = found.timeout_s
        self.bodies: dict[Form, Iterator[Body]] = {
            form: cycle_from(found.rest[self.modality, form], start) for form in FORMS
        }


class RestImageUser(RestUser):
    """PNG digits over REST."""

    modality = "image"
    weight_key = "rest-image"
    weight = 2
    tasks = [_rest_task("image", form) for form in FORMS]  # noqa: RUF012 (locust reads a class list)


class RestTextUser(RestUser):
    """Mails over REST."""

    modality = "text"
    weight_key = "rest-text"
    weight = 2
    tasks = [_rest_task("text", form) for form in FORMS]  # noqa: RUF012 (locust reads a class list)


class RestAudioUser(RestUser):
    """Spoken-digit WAVs over REST."""

    modality = "audio"
    weight_key = "rest-audio"
    weight = 2
    tasks = [_rest_task("audio", form) for form in FORMS]  # noqa: RUF012 (locust reads a class list)


# -- gRPC -------------------------------------------------------------------------------------------


def _grpc_task(modality: Modality) -> TaskFunction:
    """A task sending one unary ``Classify`` of ``modality``, tagged grpc and the modality."""

    def send(user: GrpcUser) -> None:
        user.classify(modality, next(user.requests[modality]))

    send.__name__ = f"grpc_{modality}"
    return tag("grpc", modality)(send)


class GrpcUser(User):
    """A gRPC client (a blocking channel made gevent-friendly) sending every modality in turn."""

    weight_key: ClassVar[str] = "grpc"
    weight = 3
    wait_time = between(0, 0)
    tasks = [_grpc_task(m) for m in MODALITIES]  # noqa: RUF012 (locust reads a class list)

    def on_start(self) -> None:
        """Open this user's channel."""
        found = catalogue()
        start = random.randrange(1 << 30)
        self.timeout_s = found.timeout_s
        self.channel = grpc.insecure_channel(found.grpc_target, options=channel_options(32 * 1024 * 1024))
        self.stub = pb_grpc.ClassifierStub(self.channel)  # type: ignore[no-untyped-call]
        self.requests = {m: cycle_from(reqs, start) for m, reqs in found.grpc.items()}

    def on_stop(self) -> None:
        """Close the channel."""
        self.channel.close()

    def classify(self, modality: Modality, request: pb.ClassifyRequest) -> None:
        """One call, timed and reported to locust whatever its outcome."""
        started = time.perf_counter()
        length = 0
        error: Exception | None = None
        try:
            answer = self.stub.Classify(request, timeout=self.timeout_s, metadata=_GRPC_AUTH)
            length = answer.ByteSize()
            if len(answer.predictions) != len(request.inputs):
                error = RuntimeError(f"{len(answer.predictions)} predictions for {len(request.inputs)} inputs")
        except grpc.RpcError as exc:
            error = RuntimeError(f"{exc.code().name}: {exc.details()}")  # grouped by status in the failures CSV
        self.environment.events.request.fire(
            request_type="grpc",
            name=f"gRPC {modality}",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=error,
            context={},
        )


# V2 users (Open Inference Protocol through tritonclient, loadtest/v2_users.py) have weight 0 unless asked for.
USER_CLASSES: tuple[type[RestUser | GrpcUser | V2RestUser | V2GrpcUser], ...] = (
    RestImageUser,
    RestTextUser,
    RestAudioUser,
    GrpcUser,
    V2RestUser,
    V2GrpcUser,
)


# -- set-up -----------------------------------------------------------------------------------------

_gevent_ready = False


def on_init(environment: Environment, **_kwargs: Any) -> None:
    """Apply weights and tags, make gRPC gevent-friendly, and build the catalogue of requests."""
    global _catalogue, _gevent_ready
    options = environment.parsed_options
    if options is None:
        return
    if not _gevent_ready:
        import grpc.experimental.gevent as grpc_gevent

        grpc_gevent.init_gevent()  # before any gRPC object exists in this process
        _gevent_ready = True
    for weighted in USER_CLASSES:
        weighted.weight = getattr(options, f"weight_{weighted.weight_key.replace('-', '_')}")
    tags = set(options.tags) if options.tags else None
    excluded = set(options.exclude_tags) if options.exclude_tags else set()
    kept: list[type[User]] = []
    modalities: set[Modality] = set()
    for user_class in environment.user_classes:
        selected = [t for t in user_class.tasks if _selected(t, tags, excluded)]
        if selected and user_class.weight > 0:
            kept.append(user_class)
            modalities |= {m for t in selected for m in MODALITIES if m in getattr(t, "locust_tag_set", ())}
    if not kept:
        raise SystemExit("loadtest: no user class is left after the weights and tags; nothing to run")
    environment.user_classes = kept
    _catalogue = Catalogue.from_options(options, modalities)


def _selected(task: object, tags: set[str] | None, excluded: set[str]) -> bool:
    # The same rule locust applies when it filters tasks by --tags / --exclude-tags.
    task_tags: set[str] = getattr(task, "locust_tag_set", set())
    return (tags is None or bool(task_tags & tags)) and not (task_tags & excluded)


events.init_command_line_parser.add_listener(add_arguments)  # type: ignore[no-untyped-call]
events.init.add_listener(on_init)  # type: ignore[no-untyped-call]
