"""Retries: UNAVAILABLE is retried with backoff within the deadline; nothing else is."""

from __future__ import annotations

import asyncio
import random
import socket
import time

import grpc
import pytest
from classifier_client import (
    AsyncClassifierClient,
    ClassifierClient,
    ClassifierError,
    DeadlineExceeded,
    InvalidArgument,
    Overloaded,
    RetryPolicy,
    Unavailable,
)
from scripted_server import ScriptedServer

QUICK = RetryPolicy(max_attempts=4, initial_backoff_s=0.02, max_backoff_s=0.1)


def test_backoffs_grow_exponentially_within_the_cap() -> None:
    policy = RetryPolicy(max_attempts=6, initial_backoff_s=0.1, max_backoff_s=0.5, multiplier=2.0)
    caps = [0.1, 0.2, 0.4, 0.5, 0.5]
    draws = [list(policy.backoffs(random.Random(seed))) for seed in range(200)]

    assert all(len(d) == 5 for d in draws)
    for n, cap in enumerate(caps):
        values = [d[n] for d in draws]
        assert all(0 <= v <= cap for v in values)
        assert max(values) > 0.8 * cap  # full jitter spans the range, not a fixed delay
        assert min(values) < 0.2 * cap


def test_only_unavailable_is_retryable_by_default() -> None:
    policy = RetryPolicy()
    assert policy.should_retry(grpc.StatusCode.UNAVAILABLE)
    for code in grpc.StatusCode:
        if code is not grpc.StatusCode.UNAVAILABLE:
            assert not policy.should_retry(code), code


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(initial_backoff_s=1.0, max_backoff_s=0.5)


async def test_async_client_retries_unavailable_then_succeeds(scripted: ScriptedServer) -> None:
    scripted.servicer.fail_next = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    async with AsyncClassifierClient(scripted.target, retry=QUICK) as client:
        result = await client.classify_text("pets", "hello")

    assert result.prediction.label == "cat"
    assert len(scripted.servicer.requests) == 3


async def test_sync_client_retries_unavailable_then_succeeds(scripted: ScriptedServer) -> None:
    scripted.servicer.fail_next = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    with ClassifierClient(scripted.target, retry=QUICK) as client:
        models = await asyncio.to_thread(client.list_models)

    assert [m.name for m in models] == ["pets"]
    assert scripted.servicer.fail_next == []


@pytest.mark.parametrize(
    ("code", "error"),
    [(grpc.StatusCode.INVALID_ARGUMENT, InvalidArgument), (grpc.StatusCode.RESOURCE_EXHAUSTED, Overloaded)],
)
async def test_other_codes_are_not_retried(
    scripted: ScriptedServer, code: grpc.StatusCode, error: type[ClassifierError]
) -> None:
    scripted.servicer.fail_next = [code, code]
    async with AsyncClassifierClient(scripted.target, retry=QUICK) as client:
        with pytest.raises(error) as caught:
            await client.classify_text("pets", "hello")

    assert len(scripted.servicer.requests) == 1
    assert caught.value.code is code
    assert caught.value.details == f"scripted {code.name}"
    assert isinstance(caught.value.__cause__, grpc.RpcError)


async def test_sync_client_does_not_retry_invalid_argument(scripted: ScriptedServer) -> None:
    scripted.servicer.fail_next = [grpc.StatusCode.INVALID_ARGUMENT]
    with ClassifierClient(scripted.target, retry=QUICK) as client, pytest.raises(InvalidArgument):
        await asyncio.to_thread(client.classify_text, "pets", "hello")

    assert len(scripted.servicer.requests) == 1


async def test_gives_up_after_max_attempts(scripted: ScriptedServer) -> None:
    scripted.servicer.fail_next = [grpc.StatusCode.UNAVAILABLE] * 10
    async with AsyncClassifierClient(scripted.target, retry=QUICK) as client:
        with pytest.raises(Unavailable):
            await client.classify_text("pets", "hello")

    assert len(scripted.servicer.requests) == QUICK.max_attempts


async def test_deadline_bounds_all_attempts(scripted: ScriptedServer) -> None:
    scripted.servicer.fail_next = [grpc.StatusCode.UNAVAILABLE] * 100
    patient = RetryPolicy(max_attempts=100, initial_backoff_s=0.05, max_backoff_s=0.05)
    started = time.monotonic()
    async with AsyncClassifierClient(scripted.target, retry=patient) as client:
        # The last attempt fails UNAVAILABLE, or runs out of the deadline itself on a loaded machine.
        with pytest.raises((Unavailable, DeadlineExceeded)):
            await client.classify_text("pets", "hello", timeout=0.4)

    assert time.monotonic() - started < 2.0
    assert 2 <= len(scripted.servicer.requests) < 100


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_reaches_a_server_that_starts_after_the_first_attempt() -> None:
    port = _free_port()
    patient = RetryPolicy(max_attempts=8, initial_backoff_s=0.1, max_backoff_s=0.4)
    late = ScriptedServer(port)

    async def start_late() -> None:
        await asyncio.sleep(0.3)
        await late.start()

    starter = asyncio.create_task(start_late())
    started = time.monotonic()
    try:
        async with AsyncClassifierClient(f"127.0.0.1:{port}", retry=patient) as client:
            result = await client.classify_text("pets", ["a", "b"], timeout=5)
    finally:
        await starter
        await late.stop()

    assert time.monotonic() - started >= 0.3  # the first attempt cannot have succeeded
    assert [p.label for p in result.predictions] == ["cat", "dog"]
    assert len(late.servicer.requests) == 1
