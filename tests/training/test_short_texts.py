"""Short segments of training texts: which ones, seeded, and how they join the training split."""

from __future__ import annotations

import random
from pathlib import Path

from training.loading import Samples
from training.pipeline import with_short_segments
from training.short_texts import ShortTexts, short_segments

MAIL = "Cheap meds online!!\n\nDear friend. We ship worldwide today, no prescription. Reply now\n> quoted line\n"


def test_segments_are_the_subject_the_first_sentence_and_a_word_prefix():
    segments = short_segments(MAIL, ShortTexts(prefix_words=(4, 4), per_text=3), random.Random(0))

    assert segments == ["Cheap meds online!!", "Dear friend.", "Cheap meds online!! Dear"]


def test_a_prefix_equal_to_the_subject_is_kept_once():
    assert short_segments(MAIL, ShortTexts(prefix_words=(3, 3), per_text=3), random.Random(0)) == [
        "Cheap meds online!!",
        "Dear friend.",
    ]


def test_segments_skip_empty_and_duplicate_pieces_and_the_text_itself():
    assert short_segments("hello there", ShortTexts(), random.Random(0)) == []
    assert short_segments("\n\n", ShortTexts(), random.Random(0)) == []


def test_segments_are_seeded():
    recipe = ShortTexts(prefix_words=(2, 12), per_text=3)
    long_mail = MAIL + " ".join(f"word{i}" for i in range(40))

    first = [short_segments(long_mail, recipe, random.Random(7)) for _ in range(2)]
    assert first[0] == first[1]
    draws = {short_segments(long_mail, recipe, random.Random(seed))[-1] for seed in range(10)}
    assert len(draws) > 3


def test_with_short_segments_appends_labelled_segments_after_the_originals():
    samples = Samples([MAIL, "ok then"], [1, 0], [Path("a.txt"), Path("b.txt")])

    extended = with_short_segments(samples, seed=0)

    assert extended.raws[:2] == samples.raws and samples.raws == [MAIL, "ok then"]
    assert len(extended.raws) > 2 and set(extended.labels[2:]) == {1} and set(extended.paths[2:]) == {Path("a.txt")}
    assert with_short_segments(samples, seed=0) == extended


def test_one_segment_per_text_by_default_drawn_from_all_kinds():
    drawn = {tuple(short_segments(MAIL, ShortTexts(prefix_words=(4, 4)), random.Random(seed))) for seed in range(20)}

    assert drawn == {("Cheap meds online!!",), ("Dear friend.",), ("Cheap meds online!! Dear",)}


def test_windows_are_random_runs_of_words_from_anywhere_in_the_text():
    long_mail = "Subject here\n\n" + " ".join(f"w{i}" for i in range(100))
    recipe = ShortTexts(subject=False, first_sentence=False, prefix_words=(0, 0), windows=2, window_words=(5, 5))

    segments = short_segments(long_mail, recipe, random.Random(3))

    words = long_mail.split()
    assert len(segments) == 2
    for segment in segments:
        run = segment.split()
        assert len(run) == 5
        start = words.index(run[0])
        assert words[start : start + 5] == run
    starts = {short_segments(long_mail, recipe, random.Random(seed))[0].split()[0] for seed in range(10)}
    assert len(starts) > 3  # not always the start of the text


def test_no_windows_from_a_text_too_short_to_crop():
    recipe = ShortTexts(subject=False, first_sentence=False, prefix_words=(0, 0), windows=2, window_words=(5, 30))

    assert short_segments("only four words here", recipe, random.Random(0)) == []
