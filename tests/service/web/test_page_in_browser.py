"""The page in headless Chromium over the real gateway: what it shows is what the API answers."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from tryit_page import Bar, TryPage

from training.testing import tiny_input


def assert_bars_match(bars: list[Bar], answer: dict[str, Any]) -> None:
    """Same labels in the same order, same probabilities, and the percentages written to one decimal."""
    expected = answer["predictions"][0]["top_k"]
    assert [b.label for b in bars] == [s["label"] for s in expected]
    for bar, scored in zip(bars, expected, strict=True):
        assert bar.value == pytest.approx(scored["score"] * 100, abs=1e-3)
        assert re.fullmatch(r"\d{1,3}\.\d%", bar.text), bar.text
        assert float(bar.text[:-1]) == pytest.approx(scored["score"] * 100, abs=0.05 + 1e-9)


def assert_answer_shown(page: TryPage, answer: dict[str, Any]) -> None:
    assert page.element("result").is_displayed()
    assert not page.element("error").is_displayed()
    assert page.text_of("result-model") == answer["model"]
    assert page.text_of("result-version") == str(answer["version"])
    assert re.fullmatch(r"\d+ ms", page.text_of("result-latency"))
    assert_bars_match(page.bars(), answer)


def requests_left_the_gateway(page: TryPage) -> list[str]:
    names = page.driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [name for name in names if not name.startswith(page.url + "/")]


def test_classify_image_shows_api_answer(page: TryPage, api: httpx.Client, tmp_path: Path) -> None:
    png = tiny_input("tiny-image", "circle", seed=101)
    assert isinstance(png, bytes)
    path = tmp_path / "circle.png"
    path.write_bytes(png)
    page.choose_model("tiny-image")

    page.pick_file("image-file", path)
    page.wait(lambda d: d.find_element(By.ID, "image-figure").is_displayed())
    page.classify()

    answer = api.post("/v1/models/tiny-image:classify?top_k=3", content=png, headers={"Content-Type": "image/png"})
    assert answer.status_code == 200, answer.text
    assert_answer_shown(page, answer.json())
    assert page.driver.execute_script("return document.getElementById('image-preview').naturalWidth") == 24
    assert "circle.png" in page.text_of("image-name")
    page.screenshot("image")
    assert requests_left_the_gateway(page) == []
    assert page.page_errors() == []


def test_classify_wav_file_shows_api_answer(page: TryPage, api: httpx.Client, tmp_path: Path) -> None:
    wav = tiny_input("tiny-audio", "high", seed=202)
    assert isinstance(wav, bytes)
    path = tmp_path / "high.wav"
    path.write_bytes(wav)
    page.choose_model("tiny-audio")

    page.pick_file("audio-file", path)
    page.wait(lambda d: d.find_element(By.ID, "audio-figure").is_displayed())
    page.classify()

    answer = api.post("/v1/models/tiny-audio:classify?top_k=3", content=wav, headers={"Content-Type": "audio/wav"})
    assert answer.status_code == 200, answer.text
    assert_answer_shown(page, answer.json())
    duration = page.wait(lambda d: d.execute_script("return document.getElementById('audio-player').duration"))
    assert duration == pytest.approx(0.5, abs=0.01)  # the player holds the very file, ready to replay
    page.screenshot("audio")
    assert page.page_errors() == []


def test_classify_text_shows_api_answer_for_top_k(page: TryPage, api: httpx.Client) -> None:
    text = tiny_input("tiny-text", "sport", seed=303)
    assert isinstance(text, str)
    page.choose_model("tiny-text")
    page.set_top_k(2)

    page.element("text").send_keys(text)
    page.classify()

    answer = api.post("/v1/models/tiny-text:classify", json={"instances": [{"text": text}], "top_k": 2})
    assert answer.status_code == 200, answer.text
    assert len(page.bars()) == 2
    assert_answer_shown(page, answer.json())
    page.screenshot("text")
    assert page.page_errors() == []


def test_ctrl_enter_in_text_classifies(page: TryPage) -> None:
    page.choose_model("tiny-text")

    page.element("text").send_keys("rain and wind", Keys.CONTROL, Keys.ENTER)

    page.wait(lambda d: d.find_element(By.ID, "result").is_displayed())
    assert len(page.bars()) == 3


def test_api_error_shown_as_the_api_words_it(page: TryPage, api: httpx.Client, tmp_path: Path) -> None:
    broken = b"\x89PNG\r\n\x1a\n but the rest is not an image"
    path = tmp_path / "broken.png"
    path.write_bytes(broken)
    page.choose_model("tiny-image")

    page.pick_file("image-file", path)
    page.classify()

    problem = api.post("/v1/models/tiny-image:classify?top_k=3", content=broken, headers={"Content-Type": "image/png"})
    assert problem.status_code == 400
    assert problem.headers["content-type"].startswith("application/problem+json")
    body = problem.json()
    assert page.element("error").is_displayed()
    assert not page.element("result").is_displayed()
    assert page.text_of("error-title") == body["title"]
    assert page.text_of("error-detail") == body["detail"]
    assert page.text_of("error-status") == "HTTP 400"
    assert page.element("error").get_attribute("role") == "alert"
    assert page.text_of("image-name").endswith("no preview")  # the browser cannot show it either
    page.screenshot("error")


def test_recording_from_microphone_is_classified(page: TryPage, api: httpx.Client) -> None:
    page.choose_model("tiny-audio")

    page.element("record").click()
    page.wait(lambda d: "Recording…" in d.find_element(By.ID, "record-status").text)
    assert page.element("record").get_attribute("aria-pressed") == "true"
    assert not page.element("classify").is_enabled()  # nothing to send while recording
    page.wait(lambda d: float(d.find_element(By.ID, "record-status").text.split()[1]) >= 1.0)
    page.element("record").click()
    page.wait(lambda d: d.find_element(By.ID, "audio-figure").is_displayed())
    record_sent_bodies(page)
    page.classify()

    content_type, wav = last_sent_body(page)
    assert content_type == "audio/wav"
    samples, rate = soundfile.read(io.BytesIO(wav), dtype="int16")
    info = soundfile.info(io.BytesIO(wav))
    assert (info.format, info.subtype, info.channels) == ("WAV", "PCM_16", 1)
    assert samples.size / rate >= 1.0
    assert np.abs(samples).max() > 1000, "the fake microphone's beep was recorded"
    answer = api.post("/v1/models/tiny-audio:classify?top_k=3", content=wav, headers={"Content-Type": "audio/wav"})
    assert answer.status_code == 200, answer.text
    assert_answer_shown(page, answer.json())
    assert page.element("record").get_attribute("aria-pressed") == "false"
    page.screenshot("recording")
    assert page.page_errors() == []


def record_sent_bodies(page: TryPage) -> None:
    """From now on, keep every request body the page hands to fetch (to read back what it sent)."""
    page.driver.execute_script(
        """
        const send = window.fetch;
        window.sentBodies = [];
        window.fetch = (url, init) => {
          if (init && init.body) window.sentBodies.push(init.body);
          return send(url, init);
        };
        """
    )


def last_sent_body(page: TryPage) -> tuple[str, bytes]:
    """The content type and bytes of the last Blob body the page sent."""
    content_type, data_url = page.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const blob = window.sentBodies.at(-1);
        const reader = new FileReader();
        reader.onload = () => done([blob.type, reader.result]);
        reader.readAsDataURL(blob);
        """
    )
    return content_type, base64.b64decode(data_url.split(",", 1)[1])


def test_wav_encoder_writes_16_bit_pcm(page: TryPage) -> None:
    rate = 22050
    samples = np.sin(np.linspace(0, 40 * np.pi, 1000)) * 0.9
    samples[:3] = [1.5, -1.5, -1.0]  # clipped, and the negative full scale

    data_url = page.driver.execute_async_script(
        """
        const [samples, rate, done] = arguments;
        import('./ui/wav.js').then(({ encodeWav, mergeChunks }) => {
          const chunks = [new Float32Array(samples.slice(0, 400)), new Float32Array(samples.slice(400))];
          const reader = new FileReader();
          reader.onload = () => done(reader.result);
          reader.readAsDataURL(encodeWav(mergeChunks(chunks), rate));
        });
        """,
        samples.tolist(),
        rate,
    )

    assert data_url.startswith("data:audio/wav;base64,")
    decoded, decoded_rate = soundfile.read(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])), dtype="int16")
    # What the page computes: float32 samples, scaled in double precision, Math.round (halves go up).
    expected = np.clip(samples.astype(np.float32).astype(np.float64), -1, 1)
    expected = np.floor(np.where(expected < 0, expected * 32768, expected * 32767) + 0.5).astype(np.int16)
    assert decoded_rate == rate
    np.testing.assert_array_equal(decoded, expected)


def test_version_choices_map_to_api_paths(page: TryPage, api: httpx.Client) -> None:
    paths = page.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        import('./ui/api.js').then(({ classifyPath }) => done([
          classifyPath('tiny-text', ''),
          classifyPath('tiny-text', 'v:1'),
          classifyPath('tiny text/2', 'l:stable'),
        ]));
        """
    )

    assert paths == [
        "v1/models/tiny-text:classify",
        "v1/models/tiny-text/versions/1:classify",
        "v1/models/tiny%20text%2F2/labels/stable:classify",
    ]
    pinned = api.post("/" + paths[1], json={"instances": [{"text": "rain"}]})
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["version"] == 1


def test_controls_are_labelled_and_drop_zone_is_a_button(page: TryPage) -> None:
    unlabelled = page.driver.execute_script(
        """
        return [...document.querySelectorAll('input, select, textarea')]
          .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label'))
          .map(el => el.id);
        """
    )
    assert unlabelled == []
    page.choose_model("tiny-image")
    drop = page.element("image-drop")
    assert drop.tag_name == "button"
    page.driver.execute_script(
        "const input = document.getElementById('image-file');"
        "input.addEventListener('click', e => { e.preventDefault(); window.pickerOpened = true; });"
    )

    drop.send_keys(Keys.ENTER)  # the keyboard path to the file picker

    assert page.driver.execute_script("return window.pickerOpened === true")


def test_tab_order_follows_the_form(page: TryPage) -> None:
    page.choose_model("tiny-text")
    page.element("text").send_keys("sunny")
    page.driver.execute_script("document.getElementById('model').focus()")

    reached = [page.driver.switch_to.active_element.get_attribute("id")]
    for _ in range(3):
        page.driver.switch_to.active_element.send_keys(Keys.TAB)
        reached.append(page.driver.switch_to.active_element.get_attribute("id"))

    # The version list is disabled while there is only one version to choose; hidden panels are skipped.
    assert reached == ["model", "top-k", "text", "classify"]
    page.screenshot("keyboard-focus")  # the focus ring on Classify
