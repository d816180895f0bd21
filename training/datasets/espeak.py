"""The boundary to the espeak-ng speech synthesizer (Debian package ``espeak-ng``).

Each call runs one ``espeak-ng --stdout`` process on SSML (words with their own rate and pitch,
separated by pauses) and decodes the WAV it writes. Failures of the tool (missing, exit status,
timeout, unreadable output) become ``SourceUnavailable``. espeak-ng quietly
falls back to its default voice for a variant it does not know, so ``missing_voices`` lets a builder
check its voice list against the installed data first.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from xml.sax.saxutils import escape as xml_escape

import numpy as np
import soundfile
from numpy.typing import NDArray

from training.datasets.errors import SourceUnavailable

_TIMEOUT_S: Final = 30.0
_VOICE_FILE: Final = re.compile(r"^\s*\d+\s+(\S+)\s+\S+\s+\S+\s+(\S+)", re.MULTILINE)


@dataclass(frozen=True, order=True)
class Voice:
    """One synthetic speaker: an espeak-ng language voice with a variant, e.g. ``en-us+f3``."""

    language: str
    variant: str

    @property
    def name(self) -> str:
        return f"{self.language}+{self.variant}"


@dataclass(frozen=True)
class Word:
    """A word to speak, with its speaking rate and pitch relative to the voice's defaults."""

    text: str
    rate_percent: int = 100
    pitch_percent: int = 0

    def ssml(self) -> str:
        return (
            f'<prosody rate="{self.rate_percent}%" pitch="{self.pitch_percent:+d}%">{xml_escape(self.text)}</prosody>'
        )


def executable() -> str:
    """Path of ``espeak-ng``, or ``SourceUnavailable`` when it is not installed."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise SourceUnavailable("espeak-ng is not installed (Debian package espeak-ng)")
    return path


def synthesize(
    voice: Voice, words: Sequence[Word], *, pause_ms: int = 700, speed_wpm: int = 160
) -> tuple[NDArray[np.float32], int]:
    """Speak ``words`` in one run, each with its own prosody and ``pause_ms`` of silence between them.

    Returns mono float32 samples in [-1, 1] and their sample rate. One process for many words is
    much cheaper than one per word; the caller splits the recording at the pauses.
    """
    pause = f'<break time="{pause_ms}ms"/>'
    ssml = "<speak>" + pause.join(word.ssml() for word in words) + "</speak>"
    command = [executable(), "-m", "-v", voice.name, "-s", str(speed_wpm), "--stdout", ssml]
    try:
        result = subprocess.run(command, check=True, capture_output=True, timeout=_TIMEOUT_S)
        samples, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32", always_2d=True)
    except subprocess.CalledProcessError as exc:
        stderr = exc.stderr.decode(errors="replace")[-300:]
        raise SourceUnavailable(f"espeak-ng failed for {voice.name!r}: {stderr}") from exc
    except (OSError, subprocess.TimeoutExpired, soundfile.LibsndfileError) as exc:
        raise SourceUnavailable(f"espeak-ng failed for {voice.name!r}: {exc}") from exc
    return samples.mean(axis=1, dtype=np.float32), int(rate)


def missing_voices(voices: Iterable[Voice]) -> list[str]:
    """Names of the voices whose language or variant the installed espeak-ng does not have."""
    languages = _voice_files("--voices")
    variants = _voice_files("--voices=variant")
    return sorted({voice.name for voice in voices if voice.language not in languages or voice.variant not in variants})


def _voice_files(option: str) -> set[str]:
    """Language codes and file names (the part after the last '/') that ``espeak-ng OPTION`` lists."""
    try:
        listing = subprocess.run(
            [executable(), option], check=True, capture_output=True, text=True, timeout=_TIMEOUT_S
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise SourceUnavailable(f"espeak-ng {option} failed: {exc}") from exc
    names: set[str] = set()
    for language, file in _VOICE_FILE.findall(listing):
        names.update((language, file.rsplit("/", 1)[-1]))
    return names
