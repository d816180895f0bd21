"""The decoder (``service.core.decoding``): a failed decode leaves no reference cycle behind, and cheap inputs
are decoded on the event loop.

An idle gateway runs no full garbage collection, so an input held by a cycle stays in memory for as
long as the gateway is idle; a burst of undecodable 11 MB inputs kept ~400 MB that way (``make memory``).
"""

from __future__ import annotations

import gc
import io
import os
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import numpy as np
import pytest
import soundfile
from PIL import Image

from features import AudioFeatures, ImageFeatures, ModelSpec, TextFeatures, preprocess
from service.core import decoding
from service.core.decoding import Decoder
from service.core.schemas import RawInput
from service.errors import InvalidInput
from service.settings import Settings

SPEC = ModelSpec(name="m", labels=("a", "b"), features=ImageFeatures(height=8, width=8))
TEXT = TextFeatures(vocabulary=("<pad>", "<unk>", "short"), sequence_length=4)


@pytest.fixture
def decoder() -> Iterator[Decoder]:
    made = Decoder(Settings(decoding={"processes": 1, "heavy_input_bytes": 4096}))
    yield made
    made.close()


def _decoder_frames_in_cycles() -> list[str]:
    """Names of ``service.core.decoding``'s frames that only a garbage collection would free."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return [
            obj.f_code.co_name
            for obj in gc.garbage
            if isinstance(obj, FrameType) and obj.f_code.co_filename.endswith("decoding.py")
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def _fail(decoder: Decoder, inputs: list[RawInput]) -> None:
    with pytest.raises(InvalidInput):  # once first: the pool's start holds the first future elsewhere
        await decoder.decode("m", inputs, SPEC, 60.0)
    # With automatic collections off, as in a gateway whose requests' objects outlived the young
    # generations, a cycle made here is still there when ``_decoder_frames_in_cycles`` looks.
    gc.collect()
    gc.disable()
    try:
        with pytest.raises(InvalidInput):
            await decoder.decode("m", inputs, SPEC, 60.0)
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("case", "size"),
    [("heavy, in a worker process", 64 * 1024), ("light, on a thread", 100)],
)
async def test_an_undecodable_input_leaves_no_cycle_holding_it(decoder: Decoder, case: str, size: int) -> None:
    await _fail(decoder, [os.urandom(size)])
    assert _decoder_frames_in_cycles() == [], case


async def test_a_request_of_several_inputs_that_fails_leaves_no_cycle(decoder: Decoder) -> None:
    await _fail(decoder, [os.urandom(64 * 1024), os.urandom(100), os.urandom(64 * 1024)])
    assert _decoder_frames_in_cycles() == []


# -- where an input is decoded --------------------------------------------------------------------------


def _png(side: int) -> bytes:
    # One colour: a few hundred bytes whatever the side, so only the header tells a large image.
    out = io.BytesIO()
    Image.new("L", (side, side), 200).save(out, format="PNG")
    return out.getvalue()


def _wav(seconds: float) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, np.zeros(round(16_000 * seconds), dtype=np.float32), 16_000, format="WAV")
    return out.getvalue()


@pytest.fixture
def decoded_on(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the threads that ran each preprocessing call."""
    threads: list[str] = []
    real = preprocess  # what the decoder calls

    def recording(*args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(decoding, "preprocess", recording)
    return threads


@pytest.fixture
def plain_decoder() -> Iterator[Decoder]:
    """A decoder with the default settings: inputs under 256 KiB are not heavy."""
    made = Decoder(Settings())
    yield made
    made.close()


IMAGE = ModelSpec(name="m", labels=("a", "b"), features=ImageFeatures(height=28, width=28))
AUDIO = ModelSpec(name="m", labels=("a", "b"), features=AudioFeatures(sample_rate=16_000, clip_seconds=1.0))


@pytest.mark.parametrize(
    ("raw", "spec", "alone", "on_loop"),
    [
        (_png(28), IMAGE, True, True),  # small, and nothing to batch it with: no thread hand-off
        (_png(28), IMAGE, False, False),  # other requests in flight: decoded beside them in a thread
        (_png(400), IMAGE, True, False),  # 160,000 pixels in a few hundred bytes: too costly for the loop
        (_wav(0.5), AUDIO, True, False),  # audio stays on threads unless inline_audio_samples says otherwise
        ("a short text", ModelSpec(name="m", labels=("a", "b"), features=TEXT), False, True),
    ],
)
async def test_cheap_inputs_are_decoded_on_the_event_loop_when_alone(
    plain_decoder: Decoder, decoded_on: list[str], raw: RawInput, spec: ModelSpec, alone: bool, on_loop: bool
) -> None:
    batch = await plain_decoder.decode("m", [raw], spec, 60.0, alone=alone)
    assert batch.shape == (1, *spec.features.input_shape)
    assert len(decoded_on) == 1
    assert (decoded_on[0] == threading.current_thread().name) is on_loop, decoded_on


async def test_inline_audio_follows_its_setting(decoded_on: list[str]) -> None:
    decoder = Decoder(Settings(decoding={"inline_audio_samples": 16_000}))
    try:
        await decoder.decode("m", [_wav(0.5)], AUDIO, 60.0, alone=True)  # 8,000 samples
        await decoder.decode("m", [_wav(2.0)], AUDIO, 60.0, alone=True)  # 32,000 samples
    finally:
        decoder.close()
    assert decoded_on[0] == threading.current_thread().name
    assert decoded_on[1] != threading.current_thread().name


async def test_an_unreadable_small_file_is_refused_from_a_thread(plain_decoder: Decoder, decoded_on: list[str]) -> None:
    with pytest.raises(InvalidInput):
        await plain_decoder.decode("m", [b"not an image"], IMAGE, 60.0, alone=True)
    assert decoded_on and decoded_on[0] != threading.current_thread().name
