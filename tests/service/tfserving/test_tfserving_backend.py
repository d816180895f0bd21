"""TFServingBackend against real gRPC servers on loopback: specs, cached status, deadlines, retries, error mapping."""

from __future__ import annotations

import logging
import time
from typing import Any

import grpc
import numpy as np
import pytest
from tfserving_support import free_port, gateway_config, model_server_config, scripted_server, wait_available

from features import preprocess
from features.contract import read_spec
from features.spec import ModelSpec
from service.backends.tfserving import TFServingBackend
from service.backends.tfserving.client import RETRY, channel_options
from service.errors import (
    BackendUnavailable,
    DeadlineExceeded,
    InternalError,
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    Overloaded,
    VersionNotFound,
)
from service.metrics import Metrics
from service.settings import Settings
from service.tfserving_config import refresh_serving_config
from training.testing import TINY_MODALITIES, tiny_input

MODELS = list(TINY_MODALITIES)


async def _started(settings: Settings) -> TFServingBackend:
    backend = TFServingBackend(settings, Metrics())
    await backend.start()
    return backend


def _rows(name: str, spec: ModelSpec, count: int = 2) -> np.ndarray:
    label = spec.labels[0]
    return np.stack([preprocess(tiny_input(name, label, seed=i), spec) for i in range(count)])


@pytest.fixture
async def backend(model_server, tiny_models):
    started = await _started(gateway_config(tiny_models, f"127.0.0.1:{model_server.port}"))
    yield started
    await started.close()


@pytest.mark.parametrize("name", MODELS)
async def test_spec_read_through_spec_signature_equals_exported_file(backend, tiny_models, name):
    exported = read_spec(tiny_models / name / "1")
    assert await backend.get_spec(name, 1) == exported


@pytest.mark.parametrize("name", MODELS)
async def test_predict_pinned_equals_embedded_runtime(backend, embedded_backend, name):
    spec = await backend.get_spec(name, 1)
    rows = _rows(name, spec, 3)
    got = await backend.predict(name, 1, rows, timeout=10)
    want = await embedded_backend.predict(name, 1, rows, timeout=10)
    assert got.dtype == np.float32 and got.shape == (3, len(spec.labels))
    np.testing.assert_allclose(got, want, atol=1e-6)


async def test_status_is_served_from_memory(backend):
    status = await backend.model_status("tiny-image")
    assert [(v.version, v.state.value) for v in status.versions] == [(1, "AVAILABLE")]
    started = time.perf_counter()
    for _ in range(2000):
        await backend.model_status("tiny-image")
    assert time.perf_counter() - started < 0.25  # no network call per request
    with pytest.raises(ModelNotFound):
        await backend.model_status("no-such-model")


async def test_unknown_version_spec_is_version_not_found(backend):
    with pytest.raises(VersionNotFound):
        await backend.get_spec("tiny-text", 42)


async def test_rows_not_matching_the_spec_are_refused_before_sending(backend):
    spec = await backend.get_spec("tiny-image", 1)
    with pytest.raises(InvalidInput, match="uint8"):
        await backend.predict("tiny-image", 1, _rows("tiny-image", spec).astype(np.float32), timeout=10)


async def test_deadline_is_the_callers_remaining_time(backend):
    spec = await backend.get_spec("tiny-audio", 1)
    with pytest.raises(DeadlineExceeded):
        await backend.predict("tiny-audio", 1, _rows("tiny-audio", spec), timeout=1e-6)


async def test_unreachable_tf_serving_is_backend_unavailable_quickly(tiny_models):
    backend = await _started(gateway_config(tiny_models, f"127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(BackendUnavailable):
            await backend.list_models()
        started = time.perf_counter()
        with pytest.raises(BackendUnavailable):
            await backend.get_spec("tiny-text", 1)
        assert time.perf_counter() - started < 3.0  # bounded retries, not the whole call timeout
    finally:
        await backend.close()


async def test_an_outage_logs_one_warning_not_one_per_call(tiny_models, caplog):
    backend = await _started(gateway_config(tiny_models, f"127.0.0.1:{free_port()}"))
    try:
        caplog.set_level(logging.DEBUG, logger="service.backends.tfserving.client")
        caplog.clear()
        for _ in range(5):
            with pytest.raises(BackendUnavailable) as refused:
                await backend.get_spec("tiny-text", 1)
            assert "127.0.0.1" not in refused.value.detail
        lines = [r for r in caplog.records if r.name == "service.backends.tfserving.client" and "UNAVAILABLE" in r.msg]
        assert len(lines) >= 5  # every failed call is still logged, at debug after the first warning
        assert [r.levelname for r in lines].count("WARNING") <= 1, [r.getMessage() for r in lines]
    finally:
        await backend.close()


@pytest.mark.parametrize(
    ("failures", "error", "calls"),
    [
        ([grpc.StatusCode.UNAVAILABLE] * (RETRY.max_attempts - 1), None, RETRY.max_attempts),
        ([grpc.StatusCode.UNAVAILABLE] * RETRY.max_attempts, BackendUnavailable, RETRY.max_attempts),
        ([grpc.StatusCode.INVALID_ARGUMENT], InvalidInput, 1),
        ([grpc.StatusCode.RESOURCE_EXHAUSTED], Overloaded, 1),
        ([grpc.StatusCode.DEADLINE_EXCEEDED], DeadlineExceeded, 1),
        ([grpc.StatusCode.NOT_FOUND], ModelNotReady, 1),  # the cached status named an unloaded version
        ([grpc.StatusCode.INTERNAL], InternalError, 1),
    ],
    ids=["unavailable-then-ok", "unavailable-always", "invalid", "exhausted", "deadline", "not-found", "internal"],
)
async def test_only_unavailable_is_retried_and_codes_map_to_errors(
    embedded_backend, tiny_models, failures, error, calls
):
    async with scripted_server(embedded_backend, model_server_config(tiny_models)) as (port, servicer):
        backend = await _started(gateway_config(tiny_models, f"127.0.0.1:{port}"))
        try:
            spec = await backend.get_spec("tiny-text", 1)
            servicer.calls, servicer.failures = 0, list(failures)
            rows = _rows("tiny-text", spec)
            if error is None:
                assert (await backend.predict("tiny-text", 1, rows, timeout=10)).shape == (2, len(spec.labels))
            else:
                with pytest.raises(error) as raised:
                    await backend.predict("tiny-text", 1, rows, timeout=10)
                assert type(raised.value) is error
            assert servicer.calls == calls
        finally:
            await backend.close()


async def test_tfserving_timeout_caps_a_longer_caller_deadline(embedded_backend, tiny_models):
    async with scripted_server(embedded_backend, model_server_config(tiny_models), delay_s=1.0) as (port, _):
        backend = await _started(gateway_config(tiny_models, f"127.0.0.1:{port}", tfserving_timeout_s=0.3))
        try:
            started = time.perf_counter()
            with pytest.raises(DeadlineExceeded):
                await backend.get_spec("tiny-text", 1)
            assert time.perf_counter() - started < 0.9
        finally:
            await backend.close()


async def test_address_list_target_spreads_calls_round_robin(embedded_backend, tiny_models):
    settings = model_server_config(tiny_models)
    async with (
        scripted_server(embedded_backend, settings) as (first_port, first),
        scripted_server(embedded_backend, settings) as (second_port, second),
    ):
        target = f"ipv4:127.0.0.1:{first_port},127.0.0.1:{second_port}"
        assert ("grpc.service_config", '{"loadBalancingConfig": [{"round_robin": {}}]}') in channel_options(
            gateway_config(tiny_models, target)
        )
        backend = await _started(gateway_config(tiny_models, target))
        try:
            spec = await backend.get_spec("tiny-text", 1)
            rows = _rows("tiny-text", spec)
            for _ in range(8):  # one after another: concurrent ones would share an RPC
                await backend.predict("tiny-text", 1, rows, timeout=10)
            assert first.calls >= 2 and second.calls >= 2
        finally:
            await backend.close()


async def test_model_names_from_settings_then_config_file_then_folders(model_server, tmp_path):
    target = f"127.0.0.1:{model_server.port}"
    repository = tmp_path / "models"
    for name in ("tiny-image", "tiny-text"):
        (repository / name / "1").mkdir(parents=True)

    async def names(**overrides: Any) -> list[str]:
        backend = await _started(gateway_config(repository, target, **overrides))
        try:
            return [status.name for status in await backend.list_models()]
        finally:
            await backend.close()

    assert await names() == ["tiny-image", "tiny-text"]  # folders of the repository
    (repository / "tiny-audio" / "1").mkdir(parents=True)
    refresh_serving_config(repository)
    (repository / "tiny-image" / "1").rename(repository / "tiny-image" / "old")
    # models.config (written while tiny-image/1 existed), not the folders, which now hold no tiny-image version.
    assert await names() == ["tiny-audio", "tiny-image", "tiny-text"]
    assert await names(models=["tiny-audio", "ghost"]) == ["ghost", "tiny-audio"]  # settings.models


async def test_model_tf_serving_does_not_know_has_no_versions(model_server, tiny_models):
    settings = gateway_config(tiny_models, f"127.0.0.1:{model_server.port}", models=["ghost", "tiny-text"])
    backend = await _started(settings)
    try:
        await wait_available(backend, ["tiny-text"])
        ghost = await backend.model_status("ghost")
        assert ghost.versions == () and ghost.available() == []
    finally:
        await backend.close()
