"""``first_tokens``: tokenising in pieces split at ASCII whitespace gives the whole text's first tokens.

Pieces of a few characters put a boundary almost everywhere, so normalisation (composition, mark
reordering, compatibility forms that expand to a space and a mark), case folding and the long-run cut
all meet one.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features import text as text_module
from features.spec import TextFeatures
from features.text import _tokens, first_tokens

DEFAULTS = TextFeatures.model_fields
PATTERN: str = DEFAULTS["token_pattern"].default

# Characters where a boundary could matter: ASCII and other whitespace, underscore and punctuation,
# combining marks of different classes (reordered, composed, one folded by casefold), Hangul jamo that
# compose into syllables, ligatures and compatibility forms (U+00B4 becomes a space and a mark), and
# letters whose folding grows (sharp s, dotted capital I).
_TRICKY = (
    " \t\n\r\u00a0\u2003\u3000_.,!?-'\"a b Z 9 \u0301\u0316\u0345\u0308\u0327\u1100\u1161\u11a8\uac00"
    "\ufb01\u00b4\u00b9\u00bd\u2126\u00df\u0130\u03a3\u1e9e\u0e01\u0e48\u4e2d\U0001f600"
)
_texts = st.text(alphabet=st.sampled_from(_TRICKY) | st.characters(codec="utf-8", exclude_categories=["Cs"]))


@settings(max_examples=400, deadline=None)
@given(
    text=_texts,
    normalization=st.sampled_from(["NFC", "NFKC"]),
    lowercase=st.booleans(),
    limit=st.integers(1, 40),
    piece_chars=st.integers(1, 12),
)
def test_pieces_give_the_whole_texts_first_tokens(
    text: str, normalization: str, lowercase: bool, limit: int, piece_chars: int
) -> None:
    whole = _tokens(text, normalization, lowercase, PATTERN)[:limit]  # type: ignore[arg-type]
    assert first_tokens(text, normalization, lowercase, PATTERN, limit, piece_chars=piece_chars) == whole  # type: ignore[arg-type]


def test_a_long_run_of_marks_across_pieces_is_cut_as_in_the_whole_text() -> None:
    text = "a" + "\u0301" * 40 + " b" + "\u0316\u0301" * 20 + " c"
    whole = _tokens(text, "NFKC", True, PATTERN)
    assert first_tokens(text, "NFKC", True, PATTERN, len(whole) + 5, piece_chars=3) == whole


def test_only_as_much_of_a_long_text_as_the_tokens_need_is_tokenised(monkeypatch: pytest.MonkeyPatch) -> None:
    tokenised: list[int] = []

    def counting(text: str, *args: object) -> list[str]:
        tokenised.append(len(text))
        return _tokens(text, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(text_module, "_tokens", counting)
    words = "word " * 2_000  # 10,000 characters
    assert first_tokens(words, "NFKC", True, PATTERN, 30, piece_chars=64) == ["word"] * 30
    assert sum(tokenised) < 200  # three pieces of about 64 characters, not the whole text


@pytest.mark.parametrize("pattern", [r"\S+", r"\w+\s?"])
def test_another_pattern_tokenises_the_whole_text(pattern: str) -> None:
    # A pattern may match whitespace, so pieces could split its tokens: the whole text is used instead.
    text = "one two  three " * 100
    assert first_tokens(text, "NFC", False, pattern, 5, piece_chars=4) == _tokens(text, "NFC", False, pattern)[:5]
