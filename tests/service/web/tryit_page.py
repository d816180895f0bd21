"""A page object for the try-it page: what a person does and reads, in Selenium calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from training.testing import TINY_MODALITIES

SCREENSHOTS = Path(__file__).resolve().parents[3] / "results" / "screenshots"
WAIT_S = 20.0


@dataclass(frozen=True)
class Bar:
    """One bar as the page shows it."""

    label: str
    value: float  # aria-valuenow: the percentage, unrounded
    text: str  # the percentage as written beside the bar


class TryPage:
    """Drives the page the way a person would: choose, pick or type, press Classify, read the bars."""

    def __init__(self, driver: WebDriver, url: str) -> None:
        self.driver = driver
        self.url = url

    def open(self) -> TryPage:
        self.driver.get(self.url + "/")
        self.wait(lambda d: d.find_element(By.ID, "model").is_enabled())
        return self

    def wait(self, condition: Callable[[WebDriver], Any], timeout: float = WAIT_S) -> Any:
        """What ``condition`` returns once it is truthy."""
        return WebDriverWait(self.driver, timeout).until(condition)

    def element(self, element_id: str) -> WebElement:
        return self.driver.find_element(By.ID, element_id)

    def choose_model(self, name: str) -> None:
        Select(self.element("model")).select_by_value(name)
        self.wait(lambda d: d.find_element(By.ID, f"panel-{TINY_MODALITIES[name]}").is_displayed())

    def pick_file(self, input_id: str, path: Path) -> None:
        self.element(input_id).send_keys(str(path))

    def set_top_k(self, k: int) -> None:
        field = self.element("top-k")
        field.clear()
        field.send_keys(str(k))

    def classify(self) -> None:
        """Press Classify and wait for the result or the error box of this very request."""
        self.driver.execute_script(
            "document.getElementById('result').hidden = true; document.getElementById('error').hidden = true;"
        )
        self.wait(lambda d: d.find_element(By.ID, "classify").is_enabled())
        self.element("classify").click()
        self.wait(
            lambda d: d.find_element(By.ID, "result").is_displayed() or d.find_element(By.ID, "error").is_displayed()
        )

    def bars(self) -> list[Bar]:
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#bars .bar-row")
        return [
            Bar(
                label=row.find_element(By.CLASS_NAME, "bar-label").text,
                value=float(row.find_element(By.CSS_SELECTOR, "[role=meter]").get_attribute("aria-valuenow") or "nan"),
                text=row.find_element(By.CLASS_NAME, "bar-value").text,
            )
            for row in rows
        ]

    def text_of(self, element_id: str) -> str:
        return str(self.element(element_id).text)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def page_errors(self) -> list[str]:
        """Severe console messages (uncaught exceptions, failed loads) since the last call."""
        entries: list[dict[str, Any]] = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        return [e["message"] for e in entries if e["level"] == "SEVERE"]
