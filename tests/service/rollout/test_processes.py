"""Two real gateway processes sharing one rollout state file: a start made through one is followed by the
other, and each one's report combines the comparison counts of both."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rollout_support import MODEL, SAME, STABLE, classify, report_when, rollout_gateway, start, texts


@pytest.mark.scenario
async def test_report_combines_the_counts_of_every_process(tmp_path: Path, tiny_models_template: Path) -> None:
    models = tmp_path / "models"
    for version in (STABLE, SAME):
        shutil.copytree(tiny_models_template / MODEL / "1", models / MODEL / str(version))
    state_path = tmp_path / "shared" / "rollout.json"

    async with rollout_gateway(models, state_path) as one, rollout_gateway(models, state_path) as two:
        await start(one, SAME, shadow_rate=1.0)
        await report_when(two, lambda r: r["policy"]["candidate"] == SAME)  # the other process follows the file
        for text in texts(10, seed=8):
            await classify(one, text)
        for text in texts(14, seed=9):
            await classify(two, text)

        from_one = await report_when(one, lambda r: r["compared"] == 24 and r["processes"] == 2)
        from_two = await report_when(two, lambda r: r["compared"] == 24 and r["processes"] == 2)
        files = sorted(p.name for p in state_path.parent.glob("rollout.json.counts.*.json"))

    print(f"combined over 2 processes: compared {from_one['compared']}, agreement {from_one['agreement']}")
    assert from_one["agreement"] == from_two["agreement"] == 1.0
    assert from_one["primary"]["requests"] == from_two["primary"]["requests"] == 24
    assert len(files) == 2
    assert list(state_path.parent.glob("rollout.json.counts.*.json")) == []  # a clean stop removes its file
