"""``AccessControl`` and ``TokenBucket`` over a real keys file: reloads, corrupt files, per-process shares."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from auth_support import add_key, keys

from service.auth.access import AccessControl, Principal
from service.core.token_bucket import TokenBucket
from service.errors import PermissionDenied, QuotaExceeded, Unauthenticated


def test_check_walks_401_403_429(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    key = add_key(keys_file, "web", "classify", rate=0.001, burst=2)
    access = AccessControl(keys_file, poll_interval_s=1)

    assert access.check(f"Bearer {key}", "classify") == Principal("web", frozenset({"classify"}))
    with pytest.raises(PermissionDenied):
        access.check(f"Bearer {key}", "admin")
    access.check(f"Bearer {key}", None)
    with pytest.raises(QuotaExceeded) as over:
        access.check(f"Bearer {key}", "classify")
    for header in (None, "", "Bearer", f"Token {key}", f"Bearer {key}x", "Bearer csk__", "Bearer csk_a_b_c"):
        with pytest.raises(Unauthenticated):
            access.check(header, "classify")

    assert over.value.retry_after_s > 900  # one token at 0.001/s


def test_reload_keeps_unchanged_buckets_and_drops_revoked_keys(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    key = add_key(keys_file, "web", "classify", rate=0.001, burst=1)
    access = AccessControl(keys_file, poll_interval_s=1)
    access.check(f"Bearer {key}", "classify")

    other = add_key(keys_file, "other", "admin")
    assert access.reload()
    with pytest.raises(QuotaExceeded):  # adding a key refilled nobody's bucket
        access.check(f"Bearer {key}", "classify")
    assert access.authenticate(f"Bearer {other}").name == "other"

    keys("revoke", "--file", str(keys_file), "--name", "web")
    assert access.reload()
    with pytest.raises(Unauthenticated):
        access.authenticate(f"Bearer {key}")
    assert not access.reload()  # nothing changed since


def test_corrupt_or_missing_file(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    key = add_key(keys_file, "web", "classify")
    access = AccessControl(keys_file, poll_interval_s=1)

    keys_file.write_text('{"version": 1, "keys": [{"name": 3}]}')
    assert not access.reload()
    assert access.authenticate(f"Bearer {key}").name == "web"

    os.unlink(keys_file)
    assert access.reload()
    with pytest.raises(Unauthenticated):
        access.authenticate(f"Bearer {key}")


def test_each_of_n_workers_enforces_its_share(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    key = add_key(keys_file, "web", "classify", rate=0.001, burst=6)
    processes = [AccessControl(keys_file, poll_interval_s=1, workers=3) for _ in range(3)]

    admitted = 0
    for access in processes:
        for _ in range(10):
            try:
                access.check(f"Bearer {key}", "classify")
                admitted += 1
            except QuotaExceeded:
                pass

    assert admitted == 6  # burst 6 over three processes: 2 each, the key's total


def test_token_bucket_says_when_the_next_token_comes() -> None:
    bucket = TokenBucket(rate=0.01, burst=2.0)

    assert bucket.take() == 0.0 and bucket.take() == 0.0
    wait = bucket.take()
    assert 90.0 < wait <= 100.0  # the next token, 1 / 0.01 s after the bucket emptied


#: Run in each of several processes: take up to 10 requests of the key from a shared bucket, print the admitted.
_WORKER_TAKES = """
import sys
from pathlib import Path
from service.auth.access import AccessControl
from service.errors import QuotaExceeded
access = AccessControl(Path(sys.argv[1]), poll_interval_s=1, workers=3, shared_dir=Path(sys.argv[2]))
admitted = 0
for _ in range(10):
    try:
        access.check("Bearer " + sys.argv[3], "classify")
        admitted += 1
    except QuotaExceeded:
        pass
print(admitted)
"""


def test_workers_of_one_gateway_share_each_keys_bucket(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    key = add_key(keys_file, "web", "classify", rate=0.001, burst=6)
    shared = tmp_path / "ratelimit"
    shared.mkdir()
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", _WORKER_TAKES, str(keys_file), str(shared), key],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        )
        for _ in range(3)
    ]
    admitted = [int(run.stdout) for run in runs]

    # The first process takes the whole burst; the key's total over all processes is its burst, not 3 x 2.
    assert admitted == [6, 0, 0]
    assert [path.suffix for path in shared.iterdir()] == [".bucket"]
