"""Harder held-out variants of the demo test splits: ``python -m training.datasets.variants``.

Each variant rewrites every file of ``DATA/NAME/test/LABEL/`` into ``OUT/VARIANT/LABEL/`` with the same
label, so ``python -m training evaluate --data OUT/VARIANT`` scores a version on it:

- ``spoken-digits-telephone``: band-limited to 300-3400 Hz and resampled to 8 kHz, as on a phone line;
- ``spoken-digits-reverb``: convolved with a synthetic room response (RT60 0.3-0.8 s);
- ``digits-transformed``: rotated (±15°), rescaled (0.8-1.2), shifted (±15%) and stored at another
  resolution (14 to 56 pixels), like photos and scans of digits;
- ``spam-short-messages``: SMS-length messages, the stand-in for SMS spam: the subject and the start of
  the body (header-like and quoted lines skipped) cut at a word boundary to at most 160 characters, the
  length of one SMS; every test mail gives one;
- ``spam-subjects``: the subject line alone; ``spam-first-sentence``: the body's first sentence; both
  shorter still (a median of about 6 and 12 words) and often without any sign of the class ("Re: Hi",
  "hurry", "Here is what you do."), so they are harder than an SMS and no model reaches 99% on them.

The test voices of ``spoken-digits`` are already unseen in training, so every speech variant is on unseen
voices. Seeded: the same seed writes the same files.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import butter, fftconvolve, resample_poly, sosfiltfilt

Writer = Callable[[Path, Path, np.random.Generator], bool]


def telephone(source: Path, target: Path, rng: np.random.Generator) -> bool:  # noqa: ARG001
    """Band-pass 300-3400 Hz, resample to 8 kHz, 16-bit PCM."""
    samples, rate = soundfile.read(source, dtype="float64", always_2d=False)
    band = butter(6, [300, 3400], btype="bandpass", fs=rate, output="sos")
    narrow = resample_poly(sosfiltfilt(band, samples), 8_000, rate)
    soundfile.write(target, np.clip(narrow, -1, 1), 8_000, subtype="PCM_16")
    return True


def reverb(source: Path, target: Path, rng: np.random.Generator) -> bool:
    """Convolve with an exponentially decaying noise tail after a direct path; same length and peak."""
    samples, rate = soundfile.read(source, dtype="float64", always_2d=False)
    rt60 = rng.uniform(0.3, 0.8)
    t = np.arange(int(rate * rt60)) / rate
    response = rng.normal(size=t.size) * np.exp(-6.9 * t / rt60) * 0.3
    response[0] = 1.0
    wet = fftconvolve(samples, response)[: samples.size]
    peak = np.abs(samples).max() or 1.0
    soundfile.write(target, wet / (np.abs(wet).max() or 1.0) * peak, rate, subtype="PCM_16")
    return True


def transform_image(source: Path, target: Path, rng: np.random.Generator) -> bool:
    """Rotate, rescale and shift inside the frame (border colour fill), then store at another size."""
    from PIL import Image

    with Image.open(source) as opened:
        image = opened.convert("L")
    width, height = image.size
    fill = int(np.median([image.getpixel((0, 0)), image.getpixel((width - 1, 0)), image.getpixel((0, height - 1))]))
    scale = rng.uniform(0.8, 1.2)
    scaled = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR)
    canvas = Image.new("L", (width, height), fill)
    dx = round(rng.uniform(-0.15, 0.15) * width + (width - scaled.width) / 2)
    dy = round(rng.uniform(-0.15, 0.15) * height + (height - scaled.height) / 2)
    canvas.paste(scaled, (dx, dy))
    rotated = canvas.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR, fillcolor=fill)
    side = int(rng.integers(14, 57))
    rotated.resize((side, side), Image.Resampling.BILINEAR).save(target, format="PNG")
    return True


def _body_lines(text: str) -> tuple[str, list[str]]:
    lines = text.splitlines()
    subject = lines[0].strip() if lines else ""
    return subject, [line.strip() for line in lines[1:]]


def subject_line(source: Path, target: Path, rng: np.random.Generator) -> bool:  # noqa: ARG001
    """The first line (the subject), when it has a word in it."""
    subject, _ = _body_lines(source.read_text(encoding="utf-8", errors="replace"))
    if not re.search(r"\w", subject):
        return False
    target.write_text(subject, encoding="utf-8")
    return True


_HEADER = re.compile(r"^[A-Za-z-]+:\s")


def first_sentence(source: Path, target: Path, rng: np.random.Generator) -> bool:  # noqa: ARG001
    """The body's first sentence (header-like and quoted lines skipped), at most 200 characters."""
    _, lines = _body_lines(source.read_text(encoding="utf-8", errors="replace"))
    body = " ".join(line for line in lines if line and not _HEADER.match(line) and not line.startswith((">", "|", "#")))
    match = re.match(r"(.{10,200}?[.!?])(\s|$)", body)
    sentence = match.group(1) if match else body[:200]
    if len(re.findall(r"\w+", sentence)) < 3:
        return False
    target.write_text(sentence, encoding="utf-8")
    return True


#: One SMS: 160 characters.
SHORT_MESSAGE_CHARS = 160


def short_message(source: Path, target: Path, rng: np.random.Generator) -> bool:  # noqa: ARG001
    """Subject and body start, cut at a word boundary to at most ``SHORT_MESSAGE_CHARS`` characters."""
    subject, lines = _body_lines(source.read_text(encoding="utf-8", errors="replace"))
    body = " ".join(line for line in lines if line and not _HEADER.match(line) and not line.startswith((">", "|", "#")))
    text = " ".join(f"{subject} {body}".split())
    if len(text) > SHORT_MESSAGE_CHARS:
        cut = text[: SHORT_MESSAGE_CHARS + 1]
        text = cut[: cut.rfind(" ")] if " " in cut else cut[:SHORT_MESSAGE_CHARS]
    if not re.search(r"\w", text):
        return False
    target.write_text(text, encoding="utf-8")
    return True


VARIANTS: dict[str, tuple[str, Writer]] = {
    "spoken-digits-telephone": ("spoken-digits", telephone),
    "spoken-digits-reverb": ("spoken-digits", reverb),
    "digits-transformed": ("digits", transform_image),
    "spam-short-messages": ("spam", short_message),
    "spam-subjects": ("spam", subject_line),
    "spam-first-sentence": ("spam", first_sentence),
}


def write_variant(name: str, data_dir: Path, out_dir: Path, *, seed: int = 0) -> tuple[Path, int]:
    """Write variant ``name`` of ``data_dir``'s demo test split to ``out_dir/name``; returns it and the file count."""
    dataset, writer = VARIANTS[name]
    rng = np.random.default_rng(seed)
    source_root = data_dir / dataset / "test"
    written = 0
    for label_dir in sorted(p for p in source_root.iterdir() if p.is_dir()):
        target_dir = out_dir / name / label_dir.name
        target_dir.mkdir(parents=True, exist_ok=True)
        for source in sorted(p for p in label_dir.iterdir() if p.is_file()):
            written += writer(source, target_dir / source.name, rng)
    return out_dir / name, written


def main(argv: Sequence[str] | None = None) -> int:
    """Write the chosen (default: all) variants."""
    parser = argparse.ArgumentParser(prog="python -m training.datasets.variants", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data"), help="where `python -m training data` wrote")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("names", nargs="*", choices=[*VARIANTS, []], default=[])
    args = parser.parse_args(argv)
    for name in args.names or list(VARIANTS):
        path, count = write_variant(name, args.data, args.out, seed=args.seed)
        print(f"{name}: {count} files in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
