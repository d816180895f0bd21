"""The short-text variants of the spam test split: what each keeps of a mail."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.datasets.variants import SHORT_MESSAGE_CHARS, short_message, subject_line

MAIL = (
    "Cheap meds online!!\n\nFrom: someone\n> a quoted line\nDear friend. We ship worldwide today, no"
    " prescription needed, and every order comes with a free gift for you and your family. "
) + " ".join(f"word{i}" for i in range(60))


def _write(tmp_path: Path, text: str) -> Path:
    source = tmp_path / "mail.txt"
    source.write_text(text, encoding="utf-8")
    return source


def test_short_message_is_the_subject_and_body_start_cut_at_a_word(tmp_path: Path):
    target = tmp_path / "out.txt"

    assert short_message(_write(tmp_path, MAIL), target, np.random.default_rng(0))

    text = target.read_text(encoding="utf-8")
    assert text.startswith("Cheap meds online!! Dear friend. We ship worldwide today")
    assert "quoted" not in text and "From:" not in text
    whole = " ".join(MAIL.replace("From: someone", "").replace("> a quoted line", "").split())
    assert len(text) <= SHORT_MESSAGE_CHARS < len(whole)
    assert whole.startswith(text) and whole[len(text)] == " "  # cut between words


def test_short_message_keeps_a_short_mail_whole_and_refuses_one_without_words(tmp_path: Path):
    target = tmp_path / "out.txt"

    assert short_message(_write(tmp_path, "Lunch?\n\nSee you at noon."), target, np.random.default_rng(0))
    assert target.read_text(encoding="utf-8") == "Lunch? See you at noon."
    assert not short_message(_write(tmp_path, "...\n\n!!!"), tmp_path / "none.txt", np.random.default_rng(0))
    assert not (tmp_path / "none.txt").exists()


def test_subject_line_is_the_first_line(tmp_path: Path):
    target = tmp_path / "out.txt"

    assert subject_line(_write(tmp_path, MAIL), target, np.random.default_rng(0))
    assert target.read_text(encoding="utf-8") == "Cheap meds online!!"
