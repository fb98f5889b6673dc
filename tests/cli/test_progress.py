"""Progress lines of the long phases: the ingest's files, the dbt build's nodes and a new round's unit feedback
files."""

from __future__ import annotations

import re

import pytest
from landing_builder import AFTER_DEADLINE, Landing

from reformwatch import progress
from reformwatch.config import Settings
from reformwatch.pipeline import parse_as_of, run
from reformwatch.progress import Throttled


def test_throttled_says_at_most_once_per_interval_and_nothing_in_a_short_phase():
    now = [100.0]
    said: list[str] = []
    built: list[int] = []

    def text(n: int):
        def build() -> str:
            built.append(n)
            return f"line {n}"

        return build

    throttled = Throttled(said.append, every_s=5, clock=lambda: now[0])
    for t, n in ((101.0, 1), (104.9, 2), (105.0, 3), (106.0, 4), (109.9, 5), (110.1, 6)):
        now[0] = t
        throttled(text(n))
    assert said == ["line 3", "line 6"]
    assert built == [3, 6]  # a line's text is built only when it is said
    assert throttled.elapsed() == pytest.approx(10.1)


def test_a_timed_line_ends_with_the_seconds_since_the_phase_started():
    now = [100.0]
    said: list[str] = []
    throttled = Throttled(said.append, every_s=5, clock=lambda: now[0])
    for t in (103.0, 107.4, 109.0):
        now[0] = t
        throttled.timed(lambda: "ingest: 5 of 37 new or changed files read")
    assert said == ["ingest: 5 of 37 new or changed files read (7 s)"]


@pytest.mark.slow
def test_a_run_says_how_far_the_ingest_the_dbt_build_and_the_unit_files_are(tmp_path, monkeypatch):
    """With a zero interval every step is said: the files read up to all of them, the build's nodes up
    to all of them, the unit files up to the round's count (with the default interval a phase under 5 s
    says none)."""
    monkeypatch.setattr(progress, "PROGRESS_EVERY_S", 0.0)
    land = Landing(tmp_path / "landing").good_round()
    said: list[str] = []
    settings = Settings(landing=land.root, warehouse=tmp_path / "w.duckdb")
    summary = run(settings, parse_as_of(AFTER_DEADLINE), said.append)

    def found(pattern: str) -> list[tuple[str, ...]]:
        return [m.groups() for m in map(re.compile(pattern).match, said) if m]

    read = found(r"ingest: (\d+) of (\d+) new or changed files read")
    assert read and read[-1] == (str(summary.ingest.files_read),) * 2 and summary.ingest.files_read > 0
    built = [(int(d), int(t)) for d, t in found(r"build: (\d+) of (\d+) dbt nodes done")]
    assert built and built == [(i, built[0][1]) for i in range(1, built[0][1] + 1)]
    assert f"build: {built[-1][1]} dbt nodes ok" in "\n".join(said)
    files = found(r"checks: unit feedback files of (\S+): (\d+) of (\d+) written")
    assert files and files[-1] == ("2024-R1", "3", "3") and summary.examinees == 15
