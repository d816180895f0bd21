"""Bounded Unicode normalisation: linear cost on runs of combining marks, unicodedata's answer elsewhere."""

from __future__ import annotations

import time
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from features import _unicode
from features._unicode import MAX_NON_STARTERS, normalize
from features.spec import TextFeatures
from features.text import preprocess_text, tokenize

#: The payload of the attack run (issue 10, finding 1): 100,000 characters, two mark classes.
ATTACK_TEXT = "a" + "\u0301" * 49_999 + "\u0316" * 50_000

# Runs of marks no longer than the stream-safe limit: every character is either a starter or, at
# most, part of a short run (text drawn from real scripts, marks included).
_short_runs = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
    max_size=200,
).filter(lambda text: _longest_run(text) <= MAX_NON_STARTERS)


def _longest_run(text: str) -> int:
    longest = current = 0
    for char in text:
        current = current + 1 if _unicode._is_non_starter(char) else 0
        longest = max(longest, current)
    return longest


def test_non_starter_table_matches_this_pythons_unicode_database():
    # Regenerate with `python -m features._unicode` when Python's Unicode version changes.
    assert unicodedata.unidata_version == _unicode.UNICODE_VERSION
    assert _unicode.scan_non_starters() == _unicode.NON_STARTER_RANGES


def test_normalize_cuts_runs_of_combining_marks_to_the_stream_safe_limit():
    # 40 acute accents: the first composes with the base, 29 more stay; the other 10 are dropped.
    text = "a" + "\u0301" * 40 + " b"
    assert normalize("NFKC", text) == unicodedata.normalize("NFKC", "a" + "\u0301" * 30 + " b")


def test_normalize_counts_characters_that_decompose_to_marks():
    # U+0F73 is a starter by its own class but decomposes to two marks: it counts as a non-starter.
    assert _unicode._is_non_starter("\u0f73")
    assert normalize("NFC", "\u0f40" + "\u0f73" * 40) == unicodedata.normalize("NFC", "\u0f40" + "\u0f73" * 30)


def test_normalize_keeps_astral_text_and_cuts_astral_mark_runs():
    emoji = "\U0001f600" * 100
    assert normalize("NFKC", emoji) == emoji
    musical = "x" + "\U0001d165" * 50  # MUSICAL SYMBOL COMBINING STEM, class 216
    assert normalize("NFKC", musical) == unicodedata.normalize("NFKC", "x" + "\U0001d165" * 30)


@settings(max_examples=300, deadline=None)
@given(_short_runs, st.sampled_from(["NFC", "NFKC"]))
def test_normalize_equals_unicodedata_for_text_without_long_runs(text, form):
    assert normalize(form, text) == unicodedata.normalize(form, text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("a\u0301\u0316\u0327\u0f73 \u05d0\u05b8"), max_size=400))
def test_normalize_output_has_no_run_longer_than_the_limit_once_renormalised(text):
    # Whatever the input, what the tokeniser sees is stable under normalisation and its runs are bounded.
    once = normalize("NFKC", text)
    assert unicodedata.normalize("NFKC", once) == once


def test_preprocess_text_of_the_attack_payload_is_bounded():
    spec = TextFeatures(vocabulary=("<pad>", "<unk>", "a"), sequence_length=8)
    started = time.perf_counter()
    ids = preprocess_text(ATTACK_TEXT, spec)
    elapsed = time.perf_counter() - started
    # 'á' is one token (unknown), then one token per kept mark that the pattern takes alone.
    assert ids[0] == spec.oov_id
    assert tokenize(ATTACK_TEXT, spec)[:1] == ["á"]
    assert len(tokenize(ATTACK_TEXT, spec)) <= 2 * MAX_NON_STARTERS
    print(f"\npreprocess_text of the 100,000-character attack payload: {elapsed * 1000:.1f} ms")


def test_tokenize_keeps_at_most_thirty_marks_of_a_run(text_spec):
    # On the base commit every mark survived (40 tokens after 'á'), at quadratic cost for long runs.
    tokens = tokenize("a" + "\u0301" * 40, text_spec)
    assert tokens == ["á", *["\u0301"] * (MAX_NON_STARTERS - 1)]
