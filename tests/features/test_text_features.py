"""Text preprocessing: normalisation, case folding, vocabulary lookup, padding, limits, vocabulary building."""

from __future__ import annotations

import numpy as np
import pytest

from features.errors import InputTooLarge, UndecodableInput
from features.limits import InputLimits
from features.spec import TextFeatures
from features.text import build_vocabulary, preprocess_text, tokenize


def test_tokenize_normalises_and_casefolds(text_spec):
    # full-width letters (NFKC), the fi ligature (NFKC), sharp s (casefold), combining accent (NFC)
    assert tokenize("ＨＥＬＬＯ ﬁne Straße Cafe\u0301!", text_spec) == ["hello", "fine", "strasse", "café", "!"]


def test_tokenize_without_lowercase_keeps_case(text_spec):
    spec = text_spec.model_copy(update={"lowercase": False, "normalization": "NFC"})

    assert tokenize("Hello ＷＯＲＬＤ", spec) == ["Hello", "ＷＯＲＬＤ"]


def test_tokenize_splits_punctuation_and_skips_underscores(text_spec):
    assert tokenize("don't_stop...now", text_spec) == ["don", "'", "t", "stop", ".", ".", ".", "now"]


def test_tokenize_with_groups_in_the_pattern_takes_whole_matches(text_spec):
    # findall would give the groups of such a pattern; a token is always the whole match
    spec = text_spec.model_copy(update={"token_pattern": r"(a)(b)c|\d+"})

    assert tokenize("abc 12 x abc", spec) == ["abc", "12", "abc"]


def test_preprocess_text_maps_unknown_tokens_and_pads(text_spec):
    result = preprocess_text("Hello, WORLD!", text_spec)

    assert result.dtype == np.int32
    assert result.shape == (6,)
    assert result.tolist() == [2, 1, 3, 5, 0, 0]


def test_preprocess_text_truncates_to_first_tokens(text_spec):
    result = preprocess_text("hello " * 5 + "world " * 5, text_spec)

    assert result.tolist() == [2, 2, 2, 2, 2, 3]


def test_preprocess_text_equal_specs_give_equal_ids(text_spec):
    copy = TextFeatures.model_validate(text_spec.model_dump())

    assert preprocess_text("straße world", copy).tolist() == preprocess_text("straße world", text_spec).tolist()


def test_preprocess_text_new_vocabulary_is_not_served_from_cache(text_spec):
    preprocess_text("hello", text_spec)
    reordered = text_spec.model_copy(update={"vocabulary": ("<pad>", "<unk>", "world", "hello", "x")})

    assert preprocess_text("hello", reordered)[0] == 3


@pytest.mark.parametrize("text", ["", "   \n\t ", "___", "\u3000\u00a0"])
def test_preprocess_text_without_tokens_is_undecodable(text_spec, text):
    with pytest.raises(UndecodableInput):
        preprocess_text(text, text_spec)


@pytest.mark.parametrize("payload", [b"hello", None, 42, ["hello"]])
def test_preprocess_text_non_string_is_undecodable(text_spec, payload):
    with pytest.raises(UndecodableInput):
        preprocess_text(payload, text_spec)


def test_preprocess_text_over_limit_is_too_large(text_spec):
    limits = InputLimits(max_text_chars=10)

    assert preprocess_text("hello world", text_spec, InputLimits(max_text_chars=11))[0] == 2
    with pytest.raises(InputTooLarge):
        preprocess_text("hello world", text_spec, limits)


def test_build_vocabulary_orders_by_count_then_alphabetically():
    texts = ["b a c", "B a d", "c"]

    vocabulary = build_vocabulary(texts, max_tokens=10)

    assert vocabulary == ("<pad>", "<unk>", "a", "b", "c", "d")


def test_build_vocabulary_respects_max_tokens_and_min_count():
    texts = ["a a a b b c", "a b d"]

    assert build_vocabulary(texts, max_tokens=4) == ("<pad>", "<unk>", "a", "b")
    assert build_vocabulary(texts, max_tokens=10, min_count=2) == ("<pad>", "<unk>", "a", "b")


def test_build_vocabulary_is_usable_in_a_spec():
    vocabulary = build_vocabulary(["Hello world", "hello there"], max_tokens=100)
    spec = TextFeatures(vocabulary=vocabulary, sequence_length=4)

    assert preprocess_text("HELLO there, stranger", spec).tolist() == [2, 3, 1, 1]


def test_build_vocabulary_never_repeats_reserved_tokens():
    vocabulary = build_vocabulary(["<pad> <unk> word"], max_tokens=10, token_pattern=r"\S+")

    assert vocabulary == ("<pad>", "<unk>", "word")


def test_build_vocabulary_refuses_too_small_max_tokens():
    with pytest.raises(ValueError, match="max_tokens"):
        build_vocabulary(["a"], max_tokens=2)


def test_build_vocabulary_defaults_match_text_features():
    spec = TextFeatures(vocabulary=("<pad>", "<unk>", "x"), sequence_length=1)
    text = "ＨＥＬＬＯ, Straße_x!"

    assert build_vocabulary([text], max_tokens=100)[2:] == tuple(sorted(set(tokenize(text, spec))))
