"""Short segments of training texts, so a text model also learns what short messages look like.

A model trained on whole e-mails sees a subject line or a single sentence only at serving time. With
``--short-texts``, each training text also contributes, with the same label, one segment drawn from: its
first line (the subject of an e-mail), its first sentence after that line, and a prefix of a random
number of words; training then covers both lengths at twice the samples (``per_text`` segments
each, up to all three, when time allows more). ``windows`` adds that many random crops besides: a run of
``window_words`` words starting anywhere in the text, so the model also learns from the middle of a
message and not only from how messages begin. The segments are drawn once, seeded, before preprocessing (the shared
``features.text`` turns them into ids like any other text), and only from the training split.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_HEADER = re.compile(r"^[A-Za-z-]+:\s")
_HAS_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class ShortTexts:
    """Which segments to add per training text, and the word range of the random prefix."""

    subject: bool = True
    first_sentence: bool = True
    prefix_words: tuple[int, int] = (3, 25)
    max_chars: int = 300
    per_text: int = 1
    windows: int = 0
    window_words: tuple[int, int] = (5, 30)


def short_segments(text: str, recipe: ShortTexts, rng: random.Random) -> list[str]:
    """Up to ``recipe.per_text`` segments of ``text``, drawn with ``rng`` (each with a word, none equal to ``text``)."""
    lines = [line.strip() for line in text.splitlines()]
    segments = []
    if recipe.subject and lines:
        segments.append(lines[0])
    if recipe.first_sentence:
        segments.append(_first_sentence(lines[1:] if len(lines) > 1 else lines, recipe.max_chars))
    low, high = recipe.prefix_words
    words = [match.group() for match in _words(text, high)]
    if words:
        segments.append(" ".join(words[: rng.randint(min(low, len(words)), min(high, len(words)))]))
    kept = []
    for segment in segments:
        segment = segment[: recipe.max_chars]
        if _HAS_WORD.search(segment) and segment != text and segment not in kept:
            kept.append(segment)
    if len(kept) > recipe.per_text:
        kept = sorted(rng.sample(kept, recipe.per_text), key=kept.index)
    if recipe.windows:
        kept.extend(_windows(text, recipe, rng, kept))
    return kept


def _windows(text: str, recipe: ShortTexts, rng: random.Random, kept: list[str]) -> list[str]:
    """``recipe.windows`` random runs of words of ``text``, none equal to ``text`` or to a kept segment."""
    words = _WORD.findall(text)
    low, high = recipe.window_words
    if len(words) <= low:
        return []
    crops: list[str] = []
    for _ in range(recipe.windows):
        size = rng.randint(low, min(high, len(words) - 1))
        start = rng.randint(0, len(words) - size)
        crop = " ".join(words[start : start + size])[: recipe.max_chars]
        if _HAS_WORD.search(crop) and crop != text and crop not in kept and crop not in crops:
            crops.append(crop)
    return crops


def _words(text: str, limit: int) -> Iterator[re.Match[str]]:
    for count, match in enumerate(_WORD.finditer(text)):
        if count >= limit:
            return
        yield match


def _first_sentence(lines: list[str], max_chars: int) -> str:
    body = " ".join(line for line in lines if line and not _HEADER.match(line) and not line.startswith((">", "|")))
    return _SENTENCE_END.split(body[: max_chars * 2], maxsplit=1)[0][:max_chars]
