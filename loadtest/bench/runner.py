"""Runs the bench: each system in turn, alone on the server core, every modality at every concurrency.

Systems (one server set-up each, started, measured, stopped before the next):

- ``ceiling``        (a) bare FastAPI + pydantic, parse only (``ceiling_app``)
- ``naive``          (b) FastAPI calling the SavedModel per request (``naive_app``)
- ``gateway-rest``   (c) the gateway over REST, embedded backend
- ``gateway-grpc``   (d) the same gateway process over gRPC (unary ``Classify``)
- ``gateway-stream`` (h) the same gateway process over gRPC ``ClassifyStream`` (one stream per cell,
  ``concurrency`` requests in flight on it)
- ``tfserving-rest`` (e) the gateway over REST in TF Serving mode, in front of the local model server
- ``gateway-v2-rest`` (f) and ``gateway-v2-grpc`` (g): the gateway of (c) over the Open Inference Protocol
  (V2: binary BYTES tensors over REST, ``ModelInfer`` over gRPC); only with ``BENCH_V2=1``
- extras, only when ``BENCH_EXTRAS`` names them (``auth``, ``tracing``, ``predlog`` or ``all``): the gateway of
  (c) over REST, started again with one feature on, to show that feature's CPU per request against (c):
  ``gateway-auth`` (i) with an API key file (keys made by ``python -m service.keys add``; every request sends
  ``Authorization: Bearer KEY``), ``gateway-tracing`` (j) with OpenTelemetry tracing at 100% sampling
  exported over OTLP/gRPC to a receiver on loopback (``loadtest.bench.otlp_sink``, on the generator's core),
  ``gateway-predlog`` (k) with the prediction log writing every request to a file

(a), (b), (c) and (e) get byte-identical JSON bodies (base64 for images and WAVs); (d) the same samples
as ``ClassifyRequest`` messages. With two or more cores, the servers are pinned to core 0 and this
process (the load generator) to core 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import orjson
from classifier_client.messages import build_request
from classifier_client.v1 import classifier_pb2 as pb

from features.contract import newest_version_dir
from loadtest.bench import extras
from loadtest.bench.loadgen import (
    CellResult,
    encode_http_request,
    run_grpc,
    run_grpc_stream,
    run_grpc_v2,
    run_http,
)
from loadtest.samples import DEFAULT_MODELS, MODALITIES, Form, Modality, Sample, json_body, load_samples, rest_body
from loadtest.stack import ProcessGroup, Server, free_port, python_env, start_gateway, wait_ready
from service.v2.wire import grpc_service_pb2 as v2_pb

SYSTEMS = ("ceiling", "naive", "gateway-rest", "gateway-grpc", "gateway-stream", "tfserving-rest")
#: Opt-in (``BENCH_V2=1``): the default table stays what it was.
V2_SYSTEMS = ("gateway-v2-rest", "gateway-v2-grpc")
#: Opt-in (``BENCH_EXTRAS``): the gateway with one feature on, each a start of its own.
EXTRA_SYSTEMS = tuple(f"gateway-{name}" for name in extras.EXTRAS)
#: In table order.
ALL_SYSTEMS = (
    "ceiling",
    "naive",
    "gateway-rest",
    "gateway-grpc",
    "gateway-stream",
    "tfserving-rest",
    *V2_SYSTEMS,
    *EXTRA_SYSTEMS,
)
#: Letters as the README has named the systems since the first bench; later ones take the next letters.
SYSTEM_LETTERS = dict(zip(("ceiling", "naive", "gateway-rest", "gateway-grpc", "tfserving-rest"), "abcde", strict=True))
SYSTEM_LETTERS |= {"gateway-v2-rest": "f", "gateway-v2-grpc": "g", "gateway-stream": "h"}
SYSTEM_LETTERS |= dict(zip(EXTRA_SYSTEMS, "ijk", strict=True))
#: The systems one embedded gateway serves: started once, measured in turn.
EMBEDDED_GATEWAY = ("gateway-rest", "gateway-grpc", "gateway-stream", "gateway-v2-rest", "gateway-v2-grpc")
V2_BINARY_HEADER = "Inference-Header-Content-Length"
TOP_K = 3
PRIME_S = 0.3


class LoopSettings(TypedDict):
    """The keyword arguments every load generator of ``loadgen`` takes."""

    concurrency: int
    duration_s: float
    warmup_s: float
    server_cpu: Callable[[], tuple[float, float]] | None


@dataclass
class BenchConfig:
    """What to measure and for how long; ``from_env`` reads ``BENCH_*``."""

    models_dir: Path = Path("models")
    data_dir: Path = Path("data")
    out_dir: Path = Path("results/bench")
    models: dict[Modality, str] = field(default_factory=lambda: dict(DEFAULT_MODELS))
    samples: dict[Modality, Path] = field(default_factory=dict)
    modalities: tuple[Modality, ...] = MODALITIES
    systems: tuple[str, ...] = SYSTEMS
    levels: tuple[int, ...] = (1, 8, 32)
    cell_s: float = 7.0
    warmup_s: float = 1.0
    samples_per_modality: int = 64
    inprocess_calls: int = 300
    pin: bool = True
    parallel_start: bool = False
    quick: bool = False
    #: ``CLASSIFIER_WORKERS`` of every gateway system (all on the server core); 1: one process, as always.
    workers: int = 1

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> BenchConfig:
        """``BENCH_QUICK=1`` for a smoke run; ``BENCH_LEVELS=1,8,32``, ``BENCH_CELL_S``, ``BENCH_WARMUP_S``,
        ``BENCH_SYSTEMS``, ``BENCH_V2=1`` (adds the V2 systems), ``BENCH_EXTRAS=auth,tracing,predlog`` (or
        ``all``: adds those systems), ``BENCH_MODALITIES``, ``BENCH_PIN=0``,
        ``BENCH_MODELS_DIR``, ``BENCH_DATA_DIR``, ``BENCH_WORKERS=2`` (gateway worker processes, all pinned
        to the server core: shows what a second worker costs per request),
        ``BENCH_OUT``; per modality ``BENCH_TEXT_MODEL`` and ``BENCH_TEXT_SAMPLES`` (folder)."""
        env = dict(os.environ if env is None else env)
        quick = env.get("BENCH_QUICK", "") not in ("", "0")
        config = cls(quick=quick)
        if quick:
            config.levels, config.cell_s, config.warmup_s = (1, 4), 1.5, 0.2
            config.samples_per_modality, config.inprocess_calls = 16, 40
            config.parallel_start = True

        def listed(name: str) -> list[str] | None:
            return [v.strip() for v in env[name].split(",") if v.strip()] if env.get(name) else None

        config.levels = tuple(int(v) for v in listed("BENCH_LEVELS") or config.levels)
        config.cell_s = float(env.get("BENCH_CELL_S", config.cell_s))
        config.warmup_s = float(env.get("BENCH_WARMUP_S", config.warmup_s))
        offered = SYSTEMS + (V2_SYSTEMS if env.get("BENCH_V2", "") not in ("", "0") else ())
        offered += tuple(f"gateway-{name}" for name in extras.chosen(env.get("BENCH_EXTRAS", "")))
        asked = listed("BENCH_SYSTEMS")
        # Extras named in BENCH_EXTRAS are measured even when BENCH_SYSTEMS leaves them out.
        config.systems = tuple(
            s for s in ALL_SYSTEMS if s in offered and (asked is None or s in asked or s in EXTRA_SYSTEMS)
        )
        wanted = listed("BENCH_MODALITIES") or list(MODALITIES)
        config.modalities = tuple(m for m in MODALITIES if m in wanted)
        config.pin = env.get("BENCH_PIN", "1") != "0"
        config.parallel_start = env.get("BENCH_PARALLEL_START", "1" if quick else "0") != "0"
        config.models_dir = Path(env.get("BENCH_MODELS_DIR", str(config.models_dir)))
        config.data_dir = Path(env.get("BENCH_DATA_DIR", str(config.data_dir)))
        config.out_dir = Path(env.get("BENCH_OUT", str(config.out_dir)))
        config.workers = int(env.get("BENCH_WORKERS", "1"))
        if config.workers < 1:
            raise ValueError("BENCH_WORKERS must be 1 or more")
        for modality in MODALITIES:
            config.models[modality] = env.get(f"BENCH_{modality.upper()}_MODEL", config.models[modality])
            folder = env.get(f"BENCH_{modality.upper()}_SAMPLES")
            config.samples[modality] = Path(folder) if folder else config.data_dir / config.models[modality] / "test"
        return config


@dataclass
class Cell:
    """One measured cell of the table."""

    system: str
    modality: Modality
    result: CellResult

    def row(self) -> dict[str, Any]:
        """The cell as bench.json stores it."""
        r = self.result
        return {
            "system": self.system,
            "letter": SYSTEM_LETTERS[self.system],
            "modality": self.modality,
            "concurrency": r.concurrency,
            "seconds": round(r.duration_s, 3),
            "requests": r.completed,
            "errors": r.errors,
            "rps": round(r.rps, 2),
            "p50_ms": round(r.percentile(50), 3),
            "p99_ms": round(r.percentile(99), 3),
            "server_cpu_cores": round(r.server_cpu, 3),
            "cpu_per_request_us": _rounded(r.cpu_per_request_us),
            "gateway_cpu_per_request_us": _rounded(r.front_cpu_per_request_us),
            "generator_cpu_cores": round(r.generator_cpu, 3),
            "first_error": r.first_error,
        }


def _rounded(value: float) -> float | None:
    return None if value != value else round(value, 1)  # NaN (nothing completed): null in JSON


@dataclass
class Deployment:
    """The started servers of one system (``group``), the one the load goes to, its REST port, and the
    headers every REST request of it sends (an extra's API key)."""

    system: str
    group: ProcessGroup
    server: Server
    port: int
    started: float
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Placement:
    """Which cores the servers and the generator run on, and how that was said."""

    server_cpus: set[int] | None
    generator_cpus: set[int] | None

    @classmethod
    def choose(cls, pin: bool) -> Placement:
        """Servers on core 0, generator on core 1, when pinning is on and two cores are there."""
        available = sorted(os.sched_getaffinity(0))
        if not pin or len(available) < 2:
            return cls(None, None)
        return cls({available[0]}, {available[1]})

    def describe(self) -> str:
        """One line for the report."""
        if self.server_cpus is None:
            return f"not pinned ({os.cpu_count()} cores shared by servers and generator)"
        return (
            f"servers pinned to core {min(self.server_cpus)}, load generator to core {min(self.generator_cpus or {0})}"
        )


class Payloads:
    """The bodies and messages of every modality, built once: REST JSON bodies and gRPC requests."""

    def __init__(self, config: BenchConfig) -> None:
        self.samples: dict[Modality, list[Sample]] = {
            m: load_samples(config.samples[m], m, limit=config.samples_per_modality) for m in config.modalities
        }
        self.models = config.models
        self.json = {m: [json_body(s, TOP_K) for s in found] for m, found in self.samples.items()}
        self.grpc = {
            m: [build_request(self.models[m], [_grpc_input(m, s.content)], top_k=TOP_K) for s in found]
            for m, found in self.samples.items()
        }

    def v2_http_requests(self, modality: Modality, port: int) -> list[bytes]:
        """V2 inference requests with the binary tensor data extension, as tritonclient sends them."""
        path = f"/v2/models/{self.models[modality]}/infer"
        encoded = []
        for element in (_v2_element(s) for s in self.samples[modality]):
            binary = struct.pack("<I", len(element)) + element
            input_ = {
                "name": "input",
                "shape": [1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(binary)},
            }
            output = {"name": "probabilities", "parameters": {"binary_data": True}}
            header = orjson.dumps({"inputs": [input_], "outputs": [output]})
            extra = {V2_BINARY_HEADER: str(len(header))}
            encoded.append(
                encode_http_request("127.0.0.1", port, path, header + binary, "application/octet-stream", extra)
            )
        return encoded

    def v2_grpc_requests(self, modality: Modality) -> list[v2_pb.ModelInferRequest]:
        """V2 ``ModelInferRequest``s (raw_input_contents, as tritonclient sends them)."""
        requests = []
        for element in (_v2_element(s) for s in self.samples[modality]):
            request = v2_pb.ModelInferRequest(model_name=self.models[modality])
            request.inputs.add(name="input", datatype="BYTES", shape=[1])
            request.raw_input_contents.append(struct.pack("<I", len(element)) + element)
            requests.append(request)
        return requests

    def http_requests(
        self, modality: Modality, port: int, form: Form = "json", headers: dict[str, str] | None = None
    ) -> list[bytes]:
        """Encoded HTTP requests for a server on ``port`` (the bench's table uses JSON only)."""
        path = f"/v1/models/{self.models[modality]}:classify"
        bodies = self.json[modality] if form == "json" else [rest_body(s, form, TOP_K) for s in self.samples[modality]]
        return [encode_http_request("127.0.0.1", port, path, b.content, b.content_type, headers) for b in bodies]


def _v2_element(sample: Sample) -> bytes:
    return sample.content.encode("utf-8") if isinstance(sample.content, str) else sample.content


def _grpc_input(modality: Modality, content: bytes | str) -> pb.Input:
    if isinstance(content, str):
        return pb.Input(text=content)
    return pb.Input(image=content) if modality == "image" else pb.Input(audio=content)


class Bench:
    """Runs every system and collects the cells."""

    def __init__(self, config: BenchConfig, log: Callable[[str], None] = print) -> None:
        self.config = config
        self.placement = Placement.choose(config.pin)
        self.payloads = Payloads(config)
        self.cells: list[Cell] = []
        self.inprocess: dict[str, dict[str, float]] = {}
        self.log = log

    def run(self) -> None:
        """Measure the in-process floor, then every system."""
        if self.placement.generator_cpus:
            os.sched_setaffinity(0, self.placement.generator_cpus)
        self.log(f"bench: {self.placement.describe()}")
        # First, while this process has no gRPC threads: starting a process after the gRPC cells once
        # failed in the child's gRPC poller (epoll_wait: bad file descriptor, after fork).
        self.inprocess = self._inprocess()
        gateway = [s for s in self.config.systems if s in EMBEDDED_GATEWAY][:1]  # one start serves them all
        units = [s for s in self.config.systems if s not in EMBEDDED_GATEWAY or s in gateway]
        with ExitStack() as everything:
            # Quick runs start every server at once (idle servers cost little; start-up dominates a smoke
            # run); measured runs start each one alone, so nothing else shares the server core.
            started = {u: self.start(u, everything) for u in units} if self.config.parallel_start else {}
            for unit in units:
                with ExitStack() as alone:
                    deployment = started.get(unit) or self.start(unit, alone)
                    self.wait(deployment)
                    for measured in _systems_on(unit, self.config.systems):
                        self._measure(measured, deployment)
                    if unit in started:
                        deployment.group.stop_all()

    def run_cell(
        self,
        system: str,
        deployment: Deployment,
        modality: Modality,
        level: int,
        duration_s: float,
        warmup_s: float,
        form: Form = "json",
    ) -> CellResult:
        """One closed-loop measurement of ``system`` (served by ``deployment``)."""
        servers = list(deployment.group.servers)
        front = deployment.server

        def probe() -> tuple[float, float]:
            return sum(s.cpu_seconds() for s in servers), front.cpu_seconds()

        # Every load generator takes the same loop settings; the systems differ in runner, target and payload.
        loop = LoopSettings(concurrency=level, duration_s=duration_s, warmup_s=warmup_s, server_cpu=probe)
        grpc_target = deployment.server.grpc_target or ""
        coroutine: Coroutine[Any, Any, CellResult]
        if system == "gateway-v2-grpc":
            coroutine = run_grpc_v2(grpc_target, self.payloads.v2_grpc_requests(modality), **loop)
        elif system == "gateway-stream":
            coroutine = run_grpc_stream(grpc_target, self.payloads.grpc[modality], **loop)
        elif system == "gateway-grpc":
            coroutine = run_grpc(grpc_target, self.payloads.grpc[modality], **loop)
        elif system == "gateway-v2-rest":
            coroutine = run_http(
                "127.0.0.1", deployment.port, self.payloads.v2_http_requests(modality, deployment.port), **loop
            )
        else:
            requests = self.payloads.http_requests(modality, deployment.port, form, deployment.headers)
            coroutine = run_http("127.0.0.1", deployment.port, requests, **loop)
        return _run_loop(coroutine, use_uvloop=system not in ("gateway-grpc", "gateway-stream", "gateway-v2-grpc"))

    def _measure(self, system: str, deployment: Deployment) -> None:
        def cell_run(modality: Modality, level: int, duration_s: float, warmup_s: float) -> CellResult:
            return self.run_cell(system, deployment, modality, level, duration_s, warmup_s)

        for modality in self.config.modalities:
            # A first call builds what a server builds lazily (graphs, caches): not what a cell measures.
            cell_run(modality, 1, 0.0, PRIME_S)
            for level in self.config.levels:
                cell = Cell(system, modality, cell_run(modality, level, self.config.cell_s, self.config.warmup_s))
                self.cells.append(cell)
                row = cell.row()
                self.log(
                    f"bench: ({row['letter']}) {system:<14} {modality:<5} c={level:<3} {row['rps']:>8.1f} req/s"
                    f"  p50 {row['p50_ms']:>7.2f} ms  p99 {row['p99_ms']:>7.2f} ms  errors {row['errors']}"
                    f"  server cpu {row['server_cpu_cores']:.2f} ({row['cpu_per_request_us'] or 0:.0f} us/req)"
                    f"  generator cpu {row['generator_cpu_cores']:.2f}"
                )

    def start(self, system: str, stack: ExitStack) -> Deployment:
        """Start ``system``'s servers (not yet ready) in a process group owned by ``stack``."""
        config = self.config
        cpus = self.placement.server_cpus
        models = [config.models[m] for m in config.modalities]
        # A receiver an extra needs is no server of the system (its own group, on the generator's core),
        # entered first so it stops last: the gateway exports its last spans on its way out.
        sinks = stack.enter_context(ProcessGroup(config.out_dir / "logs"))
        group = stack.enter_context(ProcessGroup(config.out_dir / "logs"))
        if system in ("ceiling", "naive"):
            port = free_port()
            argv = [sys.executable, "-m", f"loadtest.bench.{system}_app", "--port", str(port)]
            if system == "naive":
                argv += ["--models-dir", str(config.models_dir), "--models", *models]
            server = group.start(system, argv, cpus=cpus)
        else:
            topology = "tfserving" if system == "tfserving-rest" else "embedded"
            feature = extras.Feature()
            if system in EXTRA_SYSTEMS:
                extra = system.removeprefix("gateway-")
                feature = extras.prepare(extra, config.out_dir / "extras", sinks, self.placement.generator_cpus)
            gateway_env = dict(feature.env)
            if config.workers != 1:
                gateway_env["CLASSIFIER_WORKERS"] = str(config.workers)
            server = start_gateway(
                group,
                topology=topology,
                models_dir=config.models_dir,
                models=models,
                cpus=cpus,
                name=system,
                extra_env=gateway_env,
            )
            assert server.rest_url is not None
            port = int(server.rest_url.rsplit(":", 1)[1])
            return Deployment(system, group, server, port, time.perf_counter(), feature.headers)
        return Deployment(system, group, server, port, time.perf_counter())

    def wait(self, deployment: Deployment) -> None:
        """Return once the deployment answers ``/readyz`` with 200."""
        wait_ready(deployment.server, f"http://127.0.0.1:{deployment.port}/readyz", timeout_s=600)
        self.log(f"bench: {deployment.system} ready after {time.perf_counter() - deployment.started:.1f}s")

    def _inprocess(self) -> dict[str, dict[str, float]]:
        config = self.config
        argv = [sys.executable, "-m", "loadtest.bench.inprocess"]
        argv += ["--calls", str(config.inprocess_calls), "--limit", str(config.samples_per_modality)]
        for modality in config.modalities:
            model_dir = config.models_dir / config.models[modality]
            version = newest_version_dir(model_dir)
            argv += ["--job", f"{modality}={version}={config.samples[modality]}"]
        cpus = self.placement.server_cpus
        done = subprocess.run(
            argv,
            env=python_env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the in-process measurement failed:\n{done.stderr[-2000:]}")
        result: dict[str, dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
        for name, figures in result.items():
            self.log(f"bench: in-process {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))
        return result


def _systems_on(system: str, wanted: tuple[str, ...]) -> list[str]:
    # The embedded gateway serves (c), (d), (h), (f) and (g): one start, a measurement each.
    if system in EMBEDDED_GATEWAY:
        return [s for s in EMBEDDED_GATEWAY if s in wanted]
    return [system]


def _run_loop(coroutine: Coroutine[Any, Any, CellResult], *, use_uvloop: bool) -> CellResult:
    if use_uvloop:
        try:
            import uvloop

            return uvloop.run(coroutine)
        except ImportError:
            pass
    return asyncio.run(coroutine)
