"""Text features: a string -> ``int32`` token ids of shape ``(spec.sequence_length,)``.

Tokenising is Unicode normalisation (``spec.normalization``), then case folding
(``str.casefold``, when ``spec.lowercase``) followed by the same normalisation again, because
folding can produce unnormalised sequences; then every match of ``spec.token_pattern``.
Normalisation first cuts runs of more than 30 combining marks to 30 (:mod:`features._unicode`),
which ordinary text never has and which keeps its cost linear in the text.

Ids come from the spec's vocabulary: id 0 pads, id 1 stands for any token not in the vocabulary.
Sequences keep their first ``sequence_length`` tokens and are padded at the end.

With character n-grams on (``spec.char_ngram_sizes``), ``spec.char_ngram_length`` more ids follow:
for each kept token in order, wrapped as ``<token>``, every n-gram of each size (a token shorter than
a size gives itself once), id ``len(vocabulary) + crc32(utf-8 n-gram) % char_ngram_buckets``; the
first ``char_ngram_length`` of them, padded with ``pad_id``. CRC-32 (zlib) is fixed and unseeded, so
every process computes the same ids; the buckets let misspelled, inflected and numeric tokens that
are out of the vocabulary still share ids with the words they resemble.

Text with no token at all (empty, whitespace only, only characters the pattern skips) is refused
with :class:`UndecodableInput`: a model cannot classify nothing, and a request that sends nothing
is a client mistake better reported than answered with a guess.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import islice, repeat

import numpy as np
import numpy.typing as npt

from features._unicode import Normalization, normalize
from features.errors import InputTooLarge, UndecodableInput
from features.limits import InputLimits
from features.spec import TextFeatures

PAD_TOKEN = "<pad>"
OOV_TOKEN = "<unk>"

_DEFAULTS = TextFeatures.model_fields
_DEFAULT_NORMALIZATION: Normalization = _DEFAULTS["normalization"].default
_DEFAULT_LOWERCASE: bool = _DEFAULTS["lowercase"].default
_DEFAULT_TOKEN_PATTERN: str = _DEFAULTS["token_pattern"].default

#: Vocabularies whose lookup tables are kept; a gateway serves a handful of text versions at once.
_INDEX_CACHE_SIZE = 16
#: Characters tokenised at a time when only the first tokens are kept (``first_tokens``): about 170
#: tokens of the demo e-mails (2.9 characters a token); 512 measured faster than 1024 and 2048 on them.
_PIECE_CHARS = 512
_ASCII_WHITESPACE = re.compile(r"[ \t\n\r]")


def tokenize(text: str, spec: TextFeatures) -> list[str]:
    """The tokens of ``text`` under ``spec``'s normalisation, case folding and pattern."""
    return _tokens(text, spec.normalization, spec.lowercase, spec.token_pattern)


def preprocess_text(text: str, spec: TextFeatures, limits: InputLimits | None = None) -> npt.NDArray[np.int32]:
    """Turn ``text`` into the model input for ``spec``.

    Args:
        text: The raw text.
        spec: The text feature spec of the model version.
        limits: Bounds on the input; the defaults of :class:`InputLimits` when omitted.

    Returns:
        A new ``int32`` array of shape ``spec.input_shape``: the ids of the first
        ``sequence_length`` tokens (``spec.oov_id`` for unknown ones), then ``spec.pad_id``;
        then, with character n-grams on, their n-gram ids padded the same way.

    Raises:
        UndecodableInput: ``text`` is not a ``str`` or has no token.
        InputTooLarge: ``text`` has more than ``limits.max_text_chars`` characters.
    """
    if not isinstance(text, str):
        raise UndecodableInput(f"text input must be str, not {type(text).__name__}")
    limits = limits or InputLimits()
    if len(text) > limits.max_text_chars:
        raise InputTooLarge(f"text of {len(text)} characters is over the limit of {limits.max_text_chars}")
    tokens = first_tokens(text, spec.normalization, spec.lowercase, spec.token_pattern, spec.sequence_length)
    if not tokens:
        raise UndecodableInput("the text has no tokens (empty or whitespace only)")
    ids = np.full(spec.input_shape, spec.pad_id, dtype=np.int32)
    ids[: len(tokens)] = np.fromiter(
        map(_index(spec.vocabulary).get, tokens, repeat(spec.oov_id)), dtype=np.int32, count=len(tokens)
    )
    if spec.char_ngram_length:
        grams = ngram_ids(tokens, spec)
        ids[spec.sequence_length : spec.sequence_length + len(grams)] = grams
    return ids


def char_ngrams(token: str, sizes: tuple[int, ...]) -> Iterator[str]:
    """The n-grams of ``<token>`` for each size in ``sizes``; a shorter marked token is one n-gram."""
    marked = f"<{token}>"
    for size in sizes:
        if len(marked) <= size:
            yield marked
            continue
        for start in range(len(marked) - size + 1):
            yield marked[start : start + size]


def ngram_ids(tokens: Iterable[str], spec: TextFeatures) -> npt.NDArray[np.int32]:
    """The hashed n-gram ids of ``tokens`` under ``spec``, at most ``spec.char_ngram_length`` of them."""
    offset, buckets, sizes = len(spec.vocabulary), spec.char_ngram_buckets, spec.char_ngram_sizes
    grams = islice((gram for token in tokens for gram in char_ngrams(token, sizes)), spec.char_ngram_length)
    return np.fromiter(
        (offset + zlib.crc32(gram.encode("utf-8", "surrogatepass")) % buckets for gram in grams), dtype=np.int32
    )


def build_vocabulary(
    texts: Iterable[str],
    *,
    max_tokens: int,
    min_count: int = 1,
    normalization: Normalization = _DEFAULT_NORMALIZATION,
    lowercase: bool = _DEFAULT_LOWERCASE,
    token_pattern: str = _DEFAULT_TOKEN_PATTERN,
) -> tuple[str, ...]:
    """A vocabulary for :class:`TextFeatures` from training texts, the same every run.

    Args:
        texts: The training texts.
        max_tokens: Size of the whole vocabulary, ``"<pad>"`` and ``"<unk>"`` included (>= 3).
        min_count: Tokens seen fewer times are left out (they become ``"<unk>"``).
        normalization, lowercase, token_pattern: Must be those of the spec the vocabulary
            goes into; the defaults are :class:`TextFeatures`'s.

    Returns:
        ``("<pad>", "<unk>", ...)`` followed by the most frequent tokens, ties broken by code
        point order. Shorter than ``max_tokens`` when the texts have fewer distinct tokens
        (a :class:`TextFeatures` needs at least one real token).
    """
    if max_tokens < 3:
        raise ValueError("max_tokens counts <pad> and <unk>, so it must be at least 3")
    if min_count < 1:
        raise ValueError("min_count must be at least 1")
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(_tokens(text, normalization, lowercase, token_pattern))
    for reserved in (PAD_TOKEN, OOV_TOKEN):
        counts.pop(reserved, None)
    ranked = sorted((item for item in counts.items() if item[1] >= min_count), key=lambda kv: (-kv[1], kv[0]))
    return (PAD_TOKEN, OOV_TOKEN, *(token for token, _ in ranked[: max_tokens - 2]))


def _tokens(text: str, normalization: Normalization, lowercase: bool, token_pattern: str) -> list[str]:
    text = normalize(normalization, text)
    if lowercase:
        text = normalize(normalization, text.casefold())
    pattern = _compiled(token_pattern)
    if pattern.groups == 0:
        # findall builds the list in C: a third of finditer's cost with a Python call per match. It scans
        # the whole text, which normalisation has already done, so the cost stays linear in the text.
        tokens: list[str] = pattern.findall(text)
        return tokens
    # With groups, findall would return the groups; the whole match is the token.
    return [match.group() for match in pattern.finditer(text)]


def first_tokens(
    text: str,
    normalization: Normalization,
    lowercase: bool,
    token_pattern: str,
    limit: int,
    *,
    piece_chars: int = _PIECE_CHARS,
) -> list[str]:
    """The first ``limit`` tokens of ``text``, at a cost in proportion to them rather than to the text.

    Under the default pattern, which never matches whitespace, the text is tokenised in pieces of about
    ``piece_chars`` characters, each ending before an ASCII space, tab or line break, until ``limit``
    tokens are in. Such a character bounds everything the tokeniser does: normalisation cannot reach
    across it (it is a starter that composes with nothing, so runs of combining marks, their reordering
    and composition all stop there), case folding maps one character at a time, and no token holds it.
    So the pieces' tokens, in order, are the whole text's. Other patterns tokenise the whole text.
    """
    if token_pattern != _DEFAULT_TOKEN_PATTERN or len(text) <= piece_chars:
        return _tokens(text, normalization, lowercase, token_pattern)[:limit]
    tokens: list[str] = []
    start = 0
    while start < len(text) and len(tokens) < limit:
        boundary = _ASCII_WHITESPACE.search(text, start + piece_chars)
        end = len(text) if boundary is None else boundary.start()
        tokens += _tokens(text[start:end], normalization, lowercase, token_pattern)
        start = end
    return tokens[:limit]


@lru_cache(maxsize=32)
def _compiled(token_pattern: str) -> re.Pattern[str]:
    return re.compile(token_pattern)


_index_cache: OrderedDict[int, tuple[tuple[str, ...], dict[str, int]]] = OrderedDict()
_index_lock = threading.Lock()


def _index(vocabulary: tuple[str, ...]) -> dict[str, int]:
    """Token -> id for a vocabulary, cached by the tuple's identity.

    A spec's vocabulary tuple lives as long as the spec, and hashing a tuple of many thousands
    of tokens on every request would cost more than the lookup saves. The cache holds the tuple
    itself, so its id cannot be reused by another object while the entry exists.
    """
    key = id(vocabulary)
    with _index_lock:
        entry = _index_cache.get(key)
        if entry is not None and entry[0] is vocabulary:
            _index_cache.move_to_end(key)
            return entry[1]
    index = {token: position for position, token in enumerate(vocabulary)}
    with _index_lock:
        _index_cache[key] = (vocabulary, index)
        _index_cache.move_to_end(key)
        while len(_index_cache) > _INDEX_CACHE_SIZE:
            _index_cache.popitem(last=False)
    return index
