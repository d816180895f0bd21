"""The page's rollout box, in headless Chromium against a real gateway with a rollout: the two versions, the
split and the agreement of the shadow comparison, as GET /v1/models/{name}/rollout reports them."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gateway_thread import GatewayThread
from selenium.webdriver.chrome.webdriver import WebDriver
from tryit_page import TryPage

from service.settings import RolloutSettings, Settings


@pytest.fixture(scope="module")
def rollout_url(tmp_path_factory: pytest.TempPathFactory, tiny_models_template: Path) -> Iterator[str]:
    """A gateway serving tiny-text versions 1 and 2 (a copy), with rollouts on."""
    root = tmp_path_factory.mktemp("page-rollout")
    for version in ("1", "2"):
        shutil.copytree(tiny_models_template / "tiny-text" / "1", root / "models" / "tiny-text" / version)
    settings = Settings(
        models_dir=root / "models",
        models=["tiny-text"],
        version_policy="all",
        port=0,
        grpc_enabled=False,
        poll_interval_s=0.2,
        preprocess_threads=2,
        inference_threads=1,
        rollout=RolloutSettings(path=root / "rollout.json", shadow_max_concurrent=16),
    )
    gateway = GatewayThread(settings)
    url = gateway.start()
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            deadline = time.monotonic() + 180
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "gateway not ready"
                time.sleep(0.2)
        yield url
    finally:
        gateway.stop()


def test_page_shows_the_rollout_of_the_chosen_model(browser: WebDriver, rollout_url: str) -> None:
    with httpx.Client(base_url=rollout_url, timeout=30) as api:
        page = TryPage(browser, rollout_url).open()
        page.choose_model("tiny-text")
        assert not page.element("rollout").is_displayed()  # no candidate yet

        started = api.post(
            "/v1/models/tiny-text/rollout:start", json={"candidate": 2, "canary_weight": 0.25, "shadow_rate": 1.0}
        )
        assert started.status_code == 200, started.text
        for text in ("pizza and bread", "rain and snow", "goal and match", "sunny"):
            assert api.post("/v1/models/tiny-text:classify", json={"instances": [{"text": text}]}).status_code == 200
        deadline = time.monotonic() + 20
        while (report := api.get("/v1/models/tiny-text/rollout").json())["compared"] < 1:
            assert time.monotonic() < deadline, report
            time.sleep(0.1)

        page = TryPage(browser, rollout_url).open()
        page.choose_model("tiny-text")
        page.wait(lambda d: page.element("rollout").is_displayed())

        assert page.text_of("rollout-stable") == "version 1"
        assert page.text_of("rollout-candidate") == "version 2"
        assert page.text_of("rollout-split") == "canary 25% of requests, shadow 100% of stable's"
        assert page.text_of("rollout-agreement").startswith("100% of ")
        assert "compared inputs" in page.text_of("rollout-agreement")
        assert page.page_errors() == []
