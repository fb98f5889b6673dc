"""Scratch a killed run left in the temporary folder is removed by the next run; a live run's is kept."""

from __future__ import annotations

import subprocess
import sys

from reformwatch.scratch import _host_tag, scratch_prefix, sweep_stale


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_sweep_removes_only_scratch_of_ended_processes(tmp_path):
    mine, host = scratch_prefix("dbt"), _host_tag()  # this process's, live
    dead = f"reformwatch-dbt-{dead_pid()}-{host}-"
    other_host = f"reformwatch-dbt-{dead_pid()}-{'000000' if host != '000000' else '111111'}-"
    (tmp_path / f"{mine}live").mkdir()
    (tmp_path / f"{dead}left" / "sub").mkdir(parents=True)
    (tmp_path / f"{dead}left" / "sub" / "stream.csv").write_text("1,a\n")
    (tmp_path / f"{dead}x.pickle").write_bytes(b"")
    (tmp_path / f"{other_host}theirs").mkdir()  # another container's, sharing the folder
    (tmp_path / "reformwatch-notes").mkdir()  # not scratch
    assert sweep_stale(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{mine}live", f"{other_host}theirs", "reformwatch-notes"]
    )
    assert sweep_stale(tmp_path) == 0
