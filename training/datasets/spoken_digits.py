"""The ``spoken-digits`` audio dataset: "zero" to "nine" spoken by espeak-ng voices, as 1 s noisy clips.

A voice is an English espeak-ng accent with a variant (``en-gb-scotland+f2``). Every voice says the
ten words ``takes`` times, each word at its own random rate and pitch; one espeak-ng run speaks all
ten with long pauses between them, and the recording is cut at those pauses. Each word, its silence
trimmed, is resampled to 16 kHz, scaled to a random peak level, placed at a random offset in a 1.0 s
clip and mixed with white or pink noise at a random signal-to-noise ratio, then written as a 16-bit
mono WAV. Whole voices are split, stratified by accent: the val and test voices are never heard in
training, and ``dataset.json`` lists the voices of each split.
"""

from __future__ import annotations

import logging
import math
import os
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray
from scipy.signal import resample_poly

from training.datasets import espeak
from training.datasets.errors import SourceUnavailable
from training.datasets.espeak import Voice, Word
from training.datasets.layout import SPLITS, DatasetWriter, Provenance, Split, stratified_split

logger = logging.getLogger(__name__)

NAME: Final = "spoken-digits"
WORDS: Final = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
LABELS: Final = tuple(str(digit) for digit in range(10))
ACCENTS: Final = (
    "en-gb",
    "en-us",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-gb-x-rp",
    "en-029",
    "en-us-nyc",
)
VARIANTS: Final = (
    *(f"m{n}" for n in range(1, 9)),
    *(f"f{n}" for n in range(1, 6)),
    "croak",
    "klatt",
    "klatt2",
    "klatt3",
    "whisper",
    "grandma",
    "steph",
)
SAMPLE_RATE: Final = 16_000
CLIP_SECONDS: Final = 1.0
#: Speaking rate and pitch of each word, relative to 160 words per minute and the voice's own pitch.
RATE_PERCENT: Final = (80, 130)
PITCH_PERCENT: Final = (-40, 40)
SNR_DB: Final = (10.0, 30.0)
PEAK_DBFS: Final = (-18.0, -3.0)
#: Frames quieter than this, relative to the loudest frame, count as silence.
SILENCE_DB: Final = -40.0
_FRAME_S: Final = 0.01
#: Pause espeak-ng puts between words, and the shortest silence taken as one (pauses inside a word,
#: as before the k of "six", last well under 0.15 s).
_PAUSE_MS: Final = 700
_WORD_GAP_S: Final = 0.25
#: Fewest voices for a build with ``limit``: enough for the split to reach val and test.
MIN_VOICES: Final = 5


@dataclass(frozen=True)
class ClipPlan:
    """One clip: the word as spoken, and the seed of its placement, level and noise."""

    word: Word
    seed: int
    path: Path


@dataclass(frozen=True)
class TakePlan:
    """One espeak-ng run: a voice saying the ten words; drawn up front so parallel rendering is deterministic."""

    voice: Voice
    clips: tuple[ClipPlan, ...]


def build(
    out_dir: Path,
    *,
    seed: int = 0,
    limit: int | None = None,
    takes: int = 2,
    jobs: int | None = None,
) -> Path:
    """Build ``out_dir/spoken-digits`` and return its path.

    Args:
        out_dir: Folder that receives the dataset folder.
        seed: Seed of the voice split, the synthesis parameters, offsets and noise.
        limit: About this many clips per label (for quick tests), from at least ``MIN_VOICES``
            voices; all voices when None.
        takes: Clips per voice and word, each at its own speed and pitch.
        jobs: espeak-ng processes run at once; by default the number of CPUs, at most 4.
    """
    voices = [Voice(accent, variant) for accent in ACCENTS for variant in VARIANTS]
    missing = espeak.missing_voices(voices)
    if missing:
        raise SourceUnavailable(f"the installed espeak-ng lacks the voices {missing}")
    rng = np.random.default_rng(seed)
    if limit is not None:
        count = min(len(voices), max(MIN_VOICES, math.ceil(limit / takes)))
        voices = sorted(voices[i] for i in rng.permutation(len(voices))[:count])
    voice_splits = dict(zip(voices, stratified_split([v.language for v in voices], seed=seed), strict=True))

    with DatasetWriter(out_dir, NAME) as writer:
        plans = [
            TakePlan(
                voice=voice,
                clips=tuple(
                    ClipPlan(
                        word=Word(
                            word,
                            rate_percent=int(rng.integers(*RATE_PERCENT, endpoint=True)),
                            pitch_percent=int(rng.integers(*PITCH_PERCENT, endpoint=True)),
                        ),
                        seed=int(rng.integers(2**63)),
                        path=writer.reserve(voice_splits[voice], label, f"{voice.name}_{take}.wav"),
                    )
                    for label, word in zip(LABELS, WORDS, strict=True)
                ),
            )
            for voice in voices
            for take in range(takes)
        ]
        logger.info("spoken-digits: %d clips from %d voices", len(plans) * len(WORDS), len(voices))
        with ThreadPoolExecutor(max_workers=jobs or min(4, os.cpu_count() or 1)) as pool:
            for _ in pool.map(render_take, plans):
                pass
        voices_by_split: dict[Split, list[str]] = {split: [] for split in SPLITS}
        for voice in voices:
            voices_by_split[voice_splits[voice]].append(voice.name)
        return writer.publish(
            modality="audio",
            labels=LABELS,
            file_format=f"WAV, {SAMPLE_RATE} Hz, mono, 16-bit PCM, {CLIP_SECONDS:g} s",
            seed=seed,
            provenance=Provenance(
                source="The English words zero to nine, synthesized with espeak-ng voices; labels are the digits.",
                origin=f"espeak-ng ({espeak.executable()}); trimmed, resampled to {SAMPLE_RATE} Hz, placed at"
                " a random offset in the clip, mixed with white or pink noise",
                license="generated here; espeak-ng is GPL-3.0, its output is not restricted",
                details={
                    "takes_per_voice_and_word": takes,
                    "rate_percent_of_160_wpm": list(RATE_PERCENT),
                    "pitch_percent": list(PITCH_PERCENT),
                    "snr_db": list(SNR_DB),
                    "peak_dbfs": list(PEAK_DBFS),
                    "voices": dict(voices_by_split),
                },
            ),
        )


def render_take(plan: TakePlan) -> None:
    """Synthesize one take, cut it into words, and write a clip for each."""
    words = [clip.word for clip in plan.clips]
    samples = _at_sample_rate(*espeak.synthesize(plan.voice, words, pause_ms=_PAUSE_MS))
    spans = speech_spans(samples, SAMPLE_RATE, min_gap_s=_WORD_GAP_S)
    if len(spans) == len(words):
        spoken = [samples[start:end] for start, end in spans]
    else:  # a pause went missing or a word broke in two: say each word on its own instead
        logger.warning("spoken-digits: %s gave %d parts for %d words", plan.voice.name, len(spans), len(words))
        spoken = [trim_silence(_at_sample_rate(*espeak.synthesize(plan.voice, [word])), SAMPLE_RATE) for word in words]
    for clip, speech in zip(plan.clips, spoken, strict=True):
        write_clip(clip, speech)


def write_clip(plan: ClipPlan, speech: NDArray[np.float32]) -> None:
    """Place one spoken word (at ``SAMPLE_RATE``) in a clip at a random offset and level, add noise, write it."""
    rng = np.random.default_rng(plan.seed)
    length = round(SAMPLE_RATE * CLIP_SECONDS)
    if len(speech) > length:  # very slow speech: keep the start, fade the cut out
        speech = speech[:length] * np.minimum(1.0, np.linspace(40.0, 0.0, length, dtype=np.float32))

    peak = float(np.max(np.abs(speech))) or 1.0
    speech = speech * np.float32(10 ** (rng.uniform(*PEAK_DBFS) / 20) / peak)
    clip = np.zeros(length, dtype=np.float32)
    offset = int(rng.integers(0, length - len(speech), endpoint=True))
    clip[offset : offset + len(speech)] = speech

    noise = pink_noise(rng, length) if rng.random() < 0.5 else rng.standard_normal(length).astype(np.float32)
    speech_power = float(np.mean(speech.astype(np.float64) ** 2))
    noise_power = speech_power / 10 ** (rng.uniform(*SNR_DB) / 10)
    clip += noise * np.float32(math.sqrt(noise_power / float(np.mean(noise.astype(np.float64) ** 2))))
    pcm = np.round(np.clip(clip, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(plan.path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())


def speech_spans(samples: NDArray[np.float32], rate: int, *, min_gap_s: float) -> list[tuple[int, int]]:
    """Sample ranges of the sounds that silences of at least ``min_gap_s`` separate."""
    frame, loud = _loud_frames(samples, rate)
    if len(loud) == 0:
        return []
    breaks = np.flatnonzero(np.diff(loud) - 1 >= math.ceil(min_gap_s / _FRAME_S - 1e-9))
    starts = [int(loud[0]), *(int(loud[i + 1]) for i in breaks)]
    ends = [*(int(loud[i]) + 1 for i in breaks), int(loud[-1]) + 1]
    return [(start * frame, min(end * frame, len(samples))) for start, end in zip(starts, ends, strict=True)]


def trim_silence(samples: NDArray[np.float32], rate: int) -> NDArray[np.float32]:
    """Cut leading and trailing silence."""
    frame, loud = _loud_frames(samples, rate)
    return samples[loud[0] * frame : (loud[-1] + 1) * frame] if len(loud) else samples


def _loud_frames(samples: NDArray[np.float32], rate: int) -> tuple[int, NDArray[np.intp]]:
    """Frame length, and indices of the 10 ms frames no more than ``SILENCE_DB`` below the loudest."""
    frame = max(1, round(rate * _FRAME_S))
    count = max(1, math.ceil(len(samples) / frame))
    padded = np.zeros(count * frame, dtype=np.float64)
    padded[: len(samples)] = samples
    rms = np.sqrt(np.mean(padded.reshape(count, frame) ** 2, axis=1))
    return frame, np.flatnonzero(rms > rms.max() * 10 ** (SILENCE_DB / 20))


def _at_sample_rate(samples: NDArray[np.float32], rate: int) -> NDArray[np.float32]:
    ratio = Fraction(SAMPLE_RATE, rate)
    return np.asarray(resample_poly(samples, ratio.numerator, ratio.denominator), dtype=np.float32)


def pink_noise(rng: np.random.Generator, length: int) -> NDArray[np.float32]:
    """Noise with power falling as 1/f: white noise shaped in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.arange(len(spectrum), dtype=np.float64)
    frequencies[0] = 1.0
    return np.fft.irfft(spectrum / np.sqrt(frequencies), n=length).astype(np.float32)
