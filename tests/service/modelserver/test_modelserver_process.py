"""``python -m service.modelserver`` as a process: serves TF Serving's API, drains and exits 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2, predict_pb2, prediction_service_pb2_grpc

from features import preprocess
from features.contract import read_spec
from training.testing import tiny_input

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _wait_serving(channel: grpc.aio.Channel, child: asyncio.subprocess.Process, timeout_s: float = 120) -> None:
    from tensorflow_serving.apis import model_service_pb2_grpc

    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "tiny-text"
    deadline = time.monotonic() + timeout_s
    while True:
        assert child.returncode is None, "the model server exited"
        try:
            response = await stub.GetModelStatus(request, timeout=2)
            if any(s.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE for s in response.model_version_status):
                return
        except grpc.aio.AioRpcError:
            pass
        assert time.monotonic() < deadline, "the model server did not come up"
        await asyncio.sleep(0.2)


async def test_cli_serves_then_drains_on_sigterm(tiny_models):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSIFIER_")} | {"TF_CPP_MIN_LOG_LEVEL": "2"}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.modelserver",
        "--models-dir",
        str(tiny_models),
        "--port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await _wait_serving(channel, child)
            spec = read_spec(tiny_models / "tiny-text" / "1")
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "tiny-text"
            rows = np.stack([preprocess(tiny_input("tiny-text", "food", seed=i), spec) for i in range(8)])
            request.inputs["token_ids"].CopyFrom(tf.make_tensor_proto(rows))
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

            calls = [asyncio.ensure_future(stub.Predict(request, timeout=30)) for _ in range(16)]
            await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
            child.send_signal(signal.SIGTERM)  # while the other calls are in flight or queued
            outcomes = await asyncio.gather(*calls, return_exceptions=True)

        # Every call was sent before the signal: each is answered, none refused or cancelled.
        failed = [o.code() for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert not failed, failed
        answered = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(answered) == len(calls)
        for response in answered:
            assert tf.make_ndarray(response.outputs["probabilities"]).shape == (8, 3)

        output, _ = await asyncio.wait_for(child.communicate(), timeout=60)
        assert child.returncode == 0, output.decode()[-2000:]
        assert b"model server: stopped" in output
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
