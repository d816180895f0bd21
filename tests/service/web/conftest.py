"""Fixtures for the browser page: the real gateway over tiny real models, headless Chromium, a page driver.

The gateway runs in its own thread with its own event loop, because Selenium calls block: a server on
the test's loop could not answer the browser while a test waits for it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from gateway_thread import GatewayThread
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from tryit_page import WAIT_S, TryPage

from service.settings import Settings
from training.testing import TINY_MODALITIES

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory, copy_tiny_models: Callable[[Path], Path]) -> Path:
    """``tiny-image``, ``tiny-text`` and ``tiny-audio``, trained and exported once."""
    root = tmp_path_factory.mktemp("models")
    copy_tiny_models(root)
    return root


@pytest.fixture(scope="session")
def gateway_url(models_dir: Path) -> Iterator[str]:
    """Base URL of a running gateway whose tiny models are all AVAILABLE."""
    settings = Settings(
        models_dir=models_dir,
        port=0,
        grpc_enabled=False,
        poll_interval_s=0.5,
        preprocess_threads=2,
        inference_threads=1,
    )
    gateway = GatewayThread(settings)
    url = gateway.start()
    try:
        deadline = time.monotonic() + 120
        with httpx.Client(base_url=url, timeout=10) as client:
            while True:
                models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
                if all(models.get(name, {}).get("modality") for name in TINY_MODALITIES):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"tiny models not AVAILABLE: {models}")
                time.sleep(0.2)
        yield url
    finally:
        gateway.stop()


@pytest.fixture(scope="session")
def api(gateway_url: str) -> Iterator[httpx.Client]:
    """A plain HTTP client of the same gateway, to ask the API what the page should show."""
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium with a fake microphone (a beep) that needs no permission prompt."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1000,1250",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: WebDriver, gateway_url: str) -> TryPage:
    """The page, freshly loaded, with the model list in place."""
    browser.get_log("browser")  # type: ignore[no-untyped-call]  # drop what earlier tests left
    return TryPage(browser, gateway_url).open()
