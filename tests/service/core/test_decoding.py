"""The decoder (``service.core.decoding``): a failed decode leaves no reference cycle behind.

An idle gateway runs no full garbage collection, so an input held by a cycle stays in memory for as
long as the gateway is idle; a burst of undecodable 11 MB inputs kept ~400 MB that way (``make memory``).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from types import FrameType

import pytest

from features import ImageFeatures, ModelSpec
from service.core.decoding import Decoder
from service.core.schemas import RawInput
from service.errors import InvalidInput
from service.settings import Settings

SPEC = ModelSpec(name="m", labels=("a", "b"), features=ImageFeatures(height=8, width=8))


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
