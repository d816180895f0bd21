"""Character n-grams hashed after the token ids: the ids, their bounds, the spec's hash and parity."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from pydantic import ValidationError

from features import preprocess
from features.spec import ModelSpec, TextFeatures
from features.text import char_ngrams, ngram_ids, preprocess_text, tokenize

VOCABULARY = ("<pad>", "<unk>", "free", "money", "now")


def _spec(**changes: object) -> TextFeatures:
    fields = {
        "vocabulary": VOCABULARY,
        "sequence_length": 6,
        "char_ngram_sizes": (3, 4),
        "char_ngram_buckets": 97,
        "char_ngram_length": 10,
        **changes,
    }
    return TextFeatures.model_validate(fields)


def test_char_ngrams_mark_word_edges_and_keep_short_tokens_whole():
    assert list(char_ngrams("free", (3,))) == ["<fr", "fre", "ree", "ee>"]
    assert list(char_ngrams("a", (3, 4))) == ["<a>", "<a>"]
    assert list(char_ngrams("ab", (3,))) == ["<ab", "ab>"]


def test_ngram_ids_follow_the_token_ids_as_crc32_buckets_after_the_vocabulary():
    spec = _spec()

    ids = preprocess_text("FREE monney!", spec)

    assert ids.dtype == np.int32 and ids.shape == spec.input_shape == (16,)
    assert ids[:6].tolist() == [2, 1, 1, 0, 0, 0]  # "monney" and "!" are out of the vocabulary
    grams = [gram for token in ["free", "monney", "!"] for gram in char_ngrams(token, (3, 4))][:10]
    assert ids[6:].tolist() == [len(VOCABULARY) + zlib.crc32(gram.encode()) % 97 for gram in grams]
    assert ids[6:].min() >= len(VOCABULARY) and ids.max() < spec.id_count


def test_a_misspelling_shares_ngram_ids_with_the_word():
    spec = _spec(char_ngram_length=40)
    known = set(ngram_ids(tokenize("money", spec), spec).tolist())
    misspelt = set(ngram_ids(tokenize("monney", spec), spec).tolist())

    assert len(known & misspelt) >= 3


def test_ngram_ids_are_cut_at_char_ngram_length_and_padded():
    spec = _spec(char_ngram_length=4)
    long_text = preprocess_text("supercalifragilistic " * 3, spec)
    short_text = preprocess_text("a", _spec(char_ngram_length=4))

    assert (long_text[6:] >= len(VOCABULARY)).all()
    assert short_text[6:].tolist()[2:] == [0, 0]  # "<a>" twice (sizes 3 and 4), then padding


def test_the_generic_entry_point_and_lone_surrogates_give_the_same_ids():
    spec = _spec()
    text = "free money \ud800 now"

    np.testing.assert_array_equal(preprocess(text, spec), preprocess_text(text, spec))


@pytest.mark.parametrize(
    "changes",
    [{"char_ngram_buckets": 0}, {"char_ngram_sizes": ()}, {"char_ngram_length": 0}, {"char_ngram_sizes": (0,)}],
)
def test_ngram_settings_come_together(changes: dict[str, object]):
    with pytest.raises(ValidationError):
        _spec(**changes)


def test_specs_without_ngrams_keep_their_hash_and_with_them_round_trip():
    plain = ModelSpec(name="m", labels=("a", "b"), features=TextFeatures(vocabulary=VOCABULARY, sequence_length=6))
    written = plain.model_dump(mode="json")
    for key in ("char_ngram_sizes", "char_ngram_buckets", "char_ngram_length"):
        del written["features"][key]  # a spec.json exported before n-grams existed

    assert ModelSpec.model_validate(written).content_hash == plain.content_hash
    with_ngrams = ModelSpec(name="m", labels=("a", "b"), features=_spec())
    assert with_ngrams.content_hash != plain.content_hash
    assert ModelSpec.from_json(with_ngrams.to_json()) == with_ngrams
