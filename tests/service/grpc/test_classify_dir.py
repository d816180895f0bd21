"""``python -m classifier_client classify-dir`` against the real gateway: CSV, summary, accuracy, errors."""

from __future__ import annotations

import asyncio
import csv
import os
import sys
from pathlib import Path

from service.gateway import Gateway
from training.testing import write_tiny_dataset


async def _classify_dir(
    gateway: Gateway, folder: Path, out: Path, *extra: str, model: str = "tiny-image"
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "classifier_client", "classify-dir", str(folder), "--model", model,
        "--out", str(out), "--target", gateway.grpc.address, "--concurrency", "3", *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("CLASSIFIER_")},
    )  # fmt: skip
    out_bytes, err_bytes = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out_bytes.decode(), err_bytes.decode()


async def test_classify_dir_writes_csv_and_accuracy(gateway: Gateway, tmp_path: Path) -> None:
    folder = write_tiny_dataset("tiny-text", tmp_path / "notes", per_label=4, seed=5)
    (folder / "food" / "photo.png").write_bytes(b"\x89PNG not a text")
    out_csv = tmp_path / "results.csv"

    code, out, err = await _classify_dir(gateway, folder, out_csv, "--min-confidence", "1", model="tiny-text")

    assert code == 0, err
    with (tmp_path / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12  # the .png is not an input of a text model
    assert {row["true_label"] for row in rows} == {"food", "sport", "weather"}
    assert all(row["label"] and not row["error"] for row in rows)
    assert {row["abstained"] for row in rows} <= {"true", "false"}
    abstained = sum(row["abstained"] == "true" for row in rows)
    assert abstained > 0  # below 1.0 abstains; the REST and gRPC tests pin the rule itself
    right = sum(row["label"] == row["true_label"] for row in rows)
    assert f"12 answered, 0 failed, {abstained} abstained" in out
    assert f"accuracy {right / 12:.2%} over 12 answered files" in out
    assert "\r" not in err  # no progress bar off a terminal


async def test_classify_dir_lists_a_refused_file_and_exits_1(gateway: Gateway, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    write_tiny_dataset("tiny-image", folder, per_label=2, seed=6)
    (folder / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")

    code, out, _ = await _classify_dir(gateway, folder, tmp_path / "r.csv")

    assert code == 1
    with (tmp_path / "r.csv").open(newline="") as handle:
        rows = {Path(row["path"]).name: row for row in csv.DictReader(handle)}
    assert rows["broken.png"]["error"].startswith("InvalidArgument") and rows["broken.png"]["label"] == ""
    assert "7 files in " in out and "6 answered, 1 failed" in out
