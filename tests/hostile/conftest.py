"""Fixtures of the hostile-input suites: feature specs, and a real gateway over the tiny models on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from gateway_support import running_gateway

from features.spec import AudioFeatures, ImageFeatures, TextFeatures
from service.gateway import Gateway
from service.settings import Settings


@pytest.fixture(scope="session")
def image_spec() -> ImageFeatures:
    return ImageFeatures(height=28, width=28, color_mode="grayscale", polarity="light_on_dark")


@pytest.fixture(scope="session")
def rgb_spec() -> ImageFeatures:
    return ImageFeatures(height=32, width=32, color_mode="rgb")


@pytest.fixture(scope="session")
def audio_spec() -> AudioFeatures:
    return AudioFeatures(sample_rate=16_000, clip_seconds=1.0)


@pytest.fixture(scope="session")
def text_spec() -> TextFeatures:
    return TextFeatures(vocabulary=("<pad>", "<unk>", "hello", "world", "a"), sequence_length=16)


@pytest.fixture(scope="session")
async def hostile_gateway(
    tmp_path_factory: pytest.TempPathFactory, copy_tiny_models: Callable[[Path], Path]
) -> AsyncIterator[Gateway]:
    """A real gateway on loopback serving the tiny models, with default limits."""
    root = copy_tiny_models(tmp_path_factory.mktemp("hostile-models"))
    settings = Settings(
        models_dir=root,
        host="127.0.0.1",
        port=0,
        grpc_enabled=False,
        grpc_port=0,
        preprocess_threads=2,
        inference_threads=1,
        version_labels={"tiny-text": {"stable": 1}},
    )
    async with running_gateway(settings) as gateway:
        yield gateway


@pytest.fixture(scope="session")
async def hostile_client(hostile_gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the hostile gateway's REST server."""
    async with httpx.AsyncClient(base_url=hostile_gateway.rest.url, timeout=120) as client:
        yield client
