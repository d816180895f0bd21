"""The state file and the per-process counts files, on a real folder."""

from __future__ import annotations

from pathlib import Path

from service.rollout.ledger import Ledger
from service.rollout.policy import ModelRollout, RolloutState
from service.rollout.store import RolloutStore


def test_update_writes_atomically_and_another_store_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "rollout.json"
    writer, reader = RolloutStore(path), RolloutStore(path)
    writer.update(lambda s: RolloutState(models={"m": ModelRollout(stable=1, candidate=2, canary_weight=0.25)}))

    assert reader.refresh() is True
    assert reader.state.models["m"].canary_weight == 0.25
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".rollout")] == []  # no temporary left
    assert reader.refresh() is False  # unchanged file: nothing re-read


def test_corrupt_file_keeps_the_last_good_state(tmp_path: Path) -> None:
    path = tmp_path / "rollout.json"
    store = RolloutStore(path)
    store.update(lambda s: RolloutState(models={"m": ModelRollout(stable=1)}))
    bad_files = (
        '{"models": {"m": {"stable": 1, "canary_weight": 3}}}',
        "{",
        '{"models": {"m": {"candidate": 1, "stable": 1}}}',
    )
    for bad in bad_files:
        path.write_text(bad)
        assert store.refresh() is False
        assert store.state.models["m"].stable == 1
        assert store.error is not None and "last good" in store.error
    store.update(lambda s: RolloutState(models={"m": ModelRollout(stable=2)}))  # an update repairs the file
    assert store.error is None and RolloutStore(path).refresh() is True


def test_missing_file_means_no_rollout(tmp_path: Path) -> None:
    store = RolloutStore(tmp_path / "absent.json")
    assert store.refresh() is False and store.state == RolloutState() and store.error is None


def test_combined_counts_sum_fresh_files_of_the_same_rollout(tmp_path: Path) -> None:
    path = tmp_path / "rollout.json"
    mine, other, old = Ledger(path, stale_s=30), Ledger(path, stale_s=30), Ledger(path, stale_s=30)
    other.path = tmp_path / "rollout.json.counts.other-1.json"
    old.path = tmp_path / "rollout.json.counts.earlier-rollout-2.json"
    mine.pair("m", "r1", 1, 2).comparison.compared = 5
    other.pair("m", "r1", 1, 2).comparison.compared = 7
    old.pair("m", "r0", 1, 2).comparison.compared = 100  # a finished rollout's counts are not mixed in
    other.flush()
    old.flush()

    counts, processes = mine.combined("m", "r1")

    assert counts is not None and counts.comparison.compared == 12 and processes == 2
    assert mine.pairs["m"].comparison.compared == 5  # combining does not change this process's own counts
