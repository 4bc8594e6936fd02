"""``collab demo`` (what ``./dev demo`` runs) against the test's database, as a process."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_the_demo_runs_its_three_jobs_and_prints_their_events_in_seq_order(db_url: str) -> None:
    result = subprocess.run([sys.executable, "-m", "collab_sdk.cli", "demo", "--database-url", db_url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = re.findall(r"^  #(\d+) +\S+  (demo\.\w+) +(\w+)", result.stdout, re.MULTILINE)
    seqs = [int(seq) for seq, _, _ in lines]
    assert seqs == sorted(set(seqs)), "events out of order or repeated"
    by_job = {label: [event for _, lab, event in lines if lab == label]
              for label in ("demo.thumbnail", "demo.flaky", "demo.doomed")}
    assert by_job["demo.thumbnail"] == ["queued", "claimed", "progress", "succeeded"]
    assert by_job["demo.flaky"] == ["queued", "claimed", "retry_scheduled", "claimed", "succeeded"]
    assert by_job["demo.doomed"] == ["queued", "claimed", "retry_scheduled", "claimed", "failed"]
    assert "succeeded 2, failed 1, dead letters 1" in result.stdout
    assert re.search(r"artifact \S+/thumb\.txt \(\d+ bytes\); signed URL: http", result.stdout)
