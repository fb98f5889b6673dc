"""Readers are never locked out and always see a complete version; two refreshes never write at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
from landing_builder import rows, run_pipeline

from reformwatch.config import PROJECT_ROOT, SAMPLE_LANDING

EXE = Path(sys.executable).parent / "reformwatch"

READER = textwrap.dedent("""
    import json, sys, time, duckdb
    wh, stop = sys.argv[1], sys.argv[2]
    ok = errors = inconsistent = 0
    seen = set()
    import os
    while not os.path.exists(stop):
        try:
            con = duckdb.connect(wh, read_only=True)
            r = con.execute('''
                select e.examinees = u.examinees and e.units = u.units and r.units_reported = p.units,
                       e.examinees, r.units_reported
                from marts.exam_round e join marts.reform_round r using (round_id)
                join (select round_id, sum(examinees) as examinees, count(*) as units
                      from marts.exam_unit_round group by 1) u using (round_id)
                join (select round_id, count(*) as units from marts.reform_unit_round group by 1) p using (round_id)
            ''').fetchall()
            con.close()
            ok += 1
            inconsistent += sum(1 for x in r if not x[0])
            seen.update((x[1], x[2]) for x in r)
        except Exception as e:
            errors += 1
            print("ERROR", e, file=sys.stderr)
        time.sleep(0.01)
    print(json.dumps({"ok": ok, "errors": errors, "inconsistent": inconsistent, "versions": sorted(seen)}))
""")


def test_reader_during_two_simultaneous_refreshes(tmp_path):
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    shutil.copytree(SAMPLE_LANDING, landing)
    run_pipeline(landing, wh, as_of="2018-09-01").close()  # a first published version
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(wh), str(stop)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # two refreshes at once, each with something to do (a different as-of changes which deadlines passed)
    env = {k: v for k, v in os.environ.items() if k != "REFORMWATCH_CRASH_AT"}
    (landing / "2018-R1" / "exam" / "ZZZ.csv").write_text("unit_code\nZZZ\n", encoding="utf-8")
    runs = [
        subprocess.Popen(
            [str(EXE), "run", "--landing", str(landing), "--warehouse", str(wh), "--as-of", a],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for a in ("2018-10-15", "2018-09-02")
    ]
    outs = [p.communicate(timeout=600) for p in runs]
    stop.touch()
    out, err = reader.communicate(timeout=60)
    assert [p.returncode for p in runs] == [0, 0], outs
    assert sum("waiting for another refresh" in o for o, _ in outs) == 1  # the second waited for the first
    got = json.loads(out)
    assert got["errors"] == 0, err
    assert got["inconsistent"] == 0
    assert got["ok"] > 20
    artifacts = PROJECT_ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "concurrency-reader.json").write_text(out)

    con = duckdb.connect(str(wh), read_only=True)
    history = rows(con, "select started_at, lock_wait_s, finished_at from ops.pipeline_runs order by started_at")
    con.close()
    from datetime import timedelta

    spans = sorted((r["started_at"] + timedelta(seconds=r["lock_wait_s"] or 0), r["finished_at"]) for r in history)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end - timedelta(milliseconds=50), "two refreshes held the warehouse at once"
