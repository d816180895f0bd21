"""Batched Predict RPCs in TF Serving mode: concurrent requests share RPCs, answers come back in order,
each request keeps its own error, and a deadline still expires in the queue (the request is never sent)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from tfserving_support import gateway_config, model_server_config, scripted_server

from features import preprocess
from features.spec import ModelSpec
from service.backends.tfserving import TFServingBackend
from service.errors import DeadlineExceeded, InvalidInput
from service.metrics import Metrics
from service.settings import BatchingSettings
from training.testing import tiny_input

NAME = "tiny-text"


def _rows(spec: ModelSpec, seeds: range) -> np.ndarray:
    return np.stack([preprocess(tiny_input(NAME, spec.labels[s % len(spec.labels)], seed=s), spec) for s in seeds])


async def _started(target: str, tiny_models, **overrides) -> TFServingBackend:
    backend = TFServingBackend(gateway_config(tiny_models, target, **overrides), Metrics())
    await backend.start()
    return backend


async def test_concurrent_requests_share_rpcs_and_get_their_own_rows_in_order(embedded_backend, tiny_models):
    async with scripted_server(embedded_backend, model_server_config(tiny_models), delay_s=0.05) as (port, server):
        backend = await _started(f"127.0.0.1:{port}", tiny_models, tfserving_calls_per_version=1)
        try:
            spec = await backend.get_spec(NAME, 1)
            requests = [_rows(spec, range(i * 3, i * 3 + 1 + i % 3)) for i in range(12)]  # 1 to 3 rows each
            expected = [await embedded_backend.predict(NAME, 1, rows, timeout=30) for rows in requests]
            server.calls = 0
            answers = await asyncio.gather(*(backend.predict(NAME, 1, rows, timeout=30) for rows in requests))
            print(f"\n12 concurrent requests -> {server.calls} Predict RPCs")
            assert server.calls < len(requests)
            for answer, reference, rows in zip(answers, expected, requests, strict=True):
                assert answer.shape == (len(rows), len(spec.labels))
                np.testing.assert_allclose(answer, reference, rtol=1e-5, atol=1e-6)
        finally:
            await backend.close()


async def test_a_bad_request_fails_alone_while_its_neighbours_are_answered(embedded_backend, tiny_models):
    async with scripted_server(embedded_backend, model_server_config(tiny_models), delay_s=0.05) as (port, _):
        backend = await _started(f"127.0.0.1:{port}", tiny_models)
        try:
            spec = await backend.get_spec(NAME, 1)
            good = _rows(spec, range(2))
            bad = good[:, :-1]  # one feature short
            answers = await asyncio.gather(
                backend.predict(NAME, 1, good, timeout=30),
                backend.predict(NAME, 1, bad, timeout=30),
                backend.predict(NAME, 1, good, timeout=30),
                return_exceptions=True,
            )
            assert isinstance(answers[1], InvalidInput)
            for answer in (answers[0], answers[2]):
                assert isinstance(answer, np.ndarray) and answer.shape == (2, len(spec.labels))
        finally:
            await backend.close()


async def test_deadline_expires_in_the_queue_and_the_request_is_never_sent(embedded_backend, tiny_models):
    async with scripted_server(embedded_backend, model_server_config(tiny_models), delay_s=0.5) as (port, server):
        # One RPC at a time and a long window: the second request waits in the queue behind the first.
        backend = await _started(
            f"127.0.0.1:{port}",
            tiny_models,
            tfserving_calls_per_version=1,
            batching=BatchingSettings(batch_timeout_ms=10),
        )
        try:
            spec = await backend.get_spec(NAME, 1)
            rows = _rows(spec, range(1))
            server.calls = 0
            first = asyncio.create_task(backend.predict(NAME, 1, rows, timeout=30))
            while server.calls == 0:
                await asyncio.sleep(0.01)
            with pytest.raises(DeadlineExceeded, match="while queued"):
                await backend.predict(NAME, 1, rows, timeout=0.1)
            assert (await first).shape == (1, len(spec.labels))
            assert server.calls == 1  # the expired request was dropped, not sent
        finally:
            await backend.close()
