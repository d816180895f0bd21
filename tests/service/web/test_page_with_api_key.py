"""The page in Chromium against a gateway that needs API keys: it asks for a key on 401, keeps it for the
tab only, classifies with it, and asks again once the key is revoked."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gateway_thread import GatewayThread
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from tryit_page import TryPage

from service.settings import AuthSettings, Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "auth"))
from auth_support import add_key, keys


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("page-keys") / "keys.json"


@pytest.fixture(scope="module")
def locked_url(models_dir: Path, keys_file: Path) -> Iterator[str]:
    """A gateway over the tiny models that needs a key with the classify scope."""
    add_key(keys_file, "bootstrap", "admin")
    settings = Settings(
        models_dir=models_dir,
        port=0,
        grpc_enabled=False,
        poll_interval_s=0.2,
        preprocess_threads=2,
        inference_threads=1,
        auth=AuthSettings(keys_file=keys_file),
    )
    gateway = GatewayThread(settings)
    url = gateway.start()
    try:
        deadline = time.monotonic() + 120
        while httpx.get(url + "/readyz", timeout=10).status_code != 200:  # open: no key needed
            assert time.monotonic() < deadline, "tiny models not ready"
            time.sleep(0.2)
        yield url
    finally:
        gateway.stop()


def key_form_shown(page: TryPage) -> bool:
    return bool(page.element("key-form").is_displayed())


def give_key(page: TryPage, key: str) -> None:
    page.element("api-key").send_keys(key)
    page.element("use-key").click()


def test_page_asks_for_a_key_and_keeps_it_for_the_tab_only(
    browser: WebDriver, locked_url: str, keys_file: Path
) -> None:
    key = add_key(keys_file, "browser", "classify")
    page = TryPage(browser, locked_url)
    browser.get(locked_url + "/")

    page.wait(lambda _: key_form_shown(page))
    assert "needs an API key" in page.text_of("key-reason")
    assert page.text_of("error-status") == "HTTP 401"

    give_key(page, key[:-3] + "xyz")
    page.wait(lambda _: "refused" in page.text_of("key-reason"))
    assert key_form_shown(page)

    give_key(page, key)
    page.wait(lambda d: d.find_element(By.ID, "model").is_enabled())
    assert not key_form_shown(page)
    Select(page.element("model")).select_by_value("tiny-text")
    page.wait(lambda d: d.find_element(By.ID, "panel-text").is_displayed())
    page.element("text").send_keys("a goal in the last minute")
    page.classify()
    assert page.element("result").is_displayed(), page.text_of("error-detail")
    assert page.text_of("result-model") == "tiny-text"

    kept = browser.execute_script(
        "return [sessionStorage.getItem('classifier.apiKey'), localStorage.length, document.cookie];"
    )
    assert kept == [key, 0, ""]
    # The browser logs each 401 answer as a failed load; nothing else may have gone wrong.
    assert [e for e in page.page_errors() if "status of 401" not in e] == []

    keys("revoke", "--file", str(keys_file), "--name", "browser")
    page.wait(lambda _: _classify_refused(page), timeout=10)
    assert "refused" in page.text_of("key-reason")
    assert browser.execute_script("return sessionStorage.getItem('classifier.apiKey');") is None


def _classify_refused(page: TryPage) -> bool:
    page.classify()
    return key_form_shown(page)


def test_key_is_gone_in_a_new_tab_session(browser: WebDriver, locked_url: str) -> None:
    browser.get(locked_url + "/")
    browser.execute_script("sessionStorage.setItem('classifier.apiKey', 'csk_x_y');")
    browser.switch_to.new_window("tab")
    try:
        browser.get(locked_url + "/")
        stored = browser.execute_script("return sessionStorage.getItem('classifier.apiKey');")
    finally:
        browser.close()
        browser.switch_to.window(browser.window_handles[0])

    assert stored is None
