"""Ingest into raw tables on real DuckDB files (no dbt): provenance, bulk vs per-file, incremental."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import UTC, datetime

import duckdb
import pytest
from landing_builder import Landing, after_the_scan, exam_rows, progress_row, replace_by_folder

from reformwatch.config import SAMPLE_LANDING
from reformwatch.contract import EXAM_COLUMNS
from reformwatch.ingest import ensure_schema, ingest
from reformwatch.registry import RegistryError, load_registries


def do_ingest(landing, db):
    con = duckdb.connect(str(db))
    ensure_schema(con)
    load_registries(con, landing)
    res = ingest(con, landing, run_id="t", loaded_at=datetime.now(UTC), max_file_bytes=10**8)
    return con, res


def test_sample_keeps_provenance(tmp_path):
    con, res = do_ingest(SAMPLE_LANDING, tmp_path / "w.duckdb")
    assert res.files_seen == 37 and res.files_read == 37
    files = {
        r[0]: r[1:] for r in con.execute("select path, size, sha256, encoding, ext, version from raw.files").fetchall()
    }
    assert files["2018-R1/exam/COAL.csv"][2] == "gb18030"
    assert files["2018-R1/progress/LJBANK.xlsx"][2:4] == ("xlsx", "xlsx")
    assert files["2018-R1/progress/HOUSING__v2.csv"][4] == 2
    assert all(len(v[1]) == 64 and v[0] > 0 for v in files.values())
    assert con.execute("select count(*) from raw.exam_rows").fetchone()[0] == 582


def test_unchanged_files_are_not_read_again_and_history_is_kept(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    con, _ = do_ingest(landing, tmp_path / "w.duckdb")
    con.close()
    con, res = do_ingest(landing, tmp_path / "w.duckdb")
    assert res.files_read == 0 and res.rows_loaded == 0
    con.close()
    p = landing / "2018-R1" / "progress" / "AIC.csv"
    p.write_text(p.read_text().replace(",12,", ",13,"))
    con, res = do_ingest(landing, tmp_path / "w.duckdb")
    assert res.files_read == 1 and res.changed_rounds == {"2018-R1"}
    versions = con.execute("select count(*) from raw.files where path = '2018-R1/progress/AIC.csv'").fetchone()[0]
    assert versions == 2  # the old content stays in raw history


def test_bulk_file_of_empty_rows_only(tmp_path):
    """A bulk file whose rows are all empty cells loads no row, and the bulk file after it is numbered from 1."""
    land = Landing(tmp_path / "landing", units={"AAA": "甲", "BBB": "乙"})
    land.exam("AAA", rows=[dict.fromkeys(EXAM_COLUMNS, ""), dict.fromkeys(EXAM_COLUMNS, " ")])
    land.exam("BBB", rows=exam_rows("BBB", scores=[90, 80.5, 70]))
    con, _ = do_ingest(land.root, tmp_path / "w.duckdb")
    got = con.execute(
        """select f.unit_code, f.parse_path, f.n_rows, list(r.row_number order by r.row_number)
           from raw.files f left join raw.exam_rows r using (file_id) where f.kind = 'exam' group by all order by 1"""
    ).fetchall()
    assert got == [("AAA", "bulk", 0, [None]), ("BBB", "bulk", 3, [1, 2, 3])]


def test_bulk_and_per_file_paths_load_the_same_rows(tmp_path):
    """Canonical CSVs go through the bulk pass; reordered/quoted/ragged ones per file; rows must agree."""
    land = Landing(tmp_path / "landing", units={"AAA": "甲", "BBB": "乙", "CCC": "丙", "DDD": "丁", "EEE": "戊"})
    blank = dict.fromkeys(EXAM_COLUMNS, " ")  # a row of empty cells is not a row; the next keeps its number
    rows = exam_rows("AAA", scores=[90, 80.5, 70])
    land.exam("AAA", rows=[*rows[:1], blank, *rows[1:]])  # bulk
    reordered = list(reversed(EXAM_COLUMNS))
    bbb = exam_rows("BBB", scores=[90, 80.5, 70])
    land.write("exam", "BBB.csv", [*bbb[:1], blank, *bbb[1:]], header=reordered)  # per file
    ddd = exam_rows("DDD", scores=[90, 80.5, 70])  # a ragged row: the bulk pass drops the file, the next
    land.write_bytes(  # file's rows must still be numbered from 1
        "exam",
        "DDD.csv",
        (",".join(EXAM_COLUMNS) + "\n" + "\n".join(",".join(map(str, r.values())) for r in ddd) + ",extra\n").encode(),
    )
    eee = exam_rows("EEE", scores=[90, 80.5, 70])
    commas = dict.fromkeys(EXAM_COLUMNS, "")  # ",,,,,,,": empty cells too
    land.exam("EEE", rows=[*eee[:2], commas, *eee[2:]])  # bulk, after the dropped one
    quoted = exam_rows("CCC", scores=[90, 80.5, 70])
    quoted[0]["discipline_note"] = 'said "hello", twice'
    land.exam("CCC", rows=quoted)  # per file (quotes)
    land.write("progress", "AAA.csv", [progress_row("AAA")])
    # a short row makes the bulk pass reject the file; the per-file pass rejects it with the line and the fix
    land.write_bytes(
        "progress",
        "BBB.csv",
        (
            ",".join(progress_row("BBB")) + "\n" + ",".join(str(v) for v in progress_row("BBB").values())[:-2] + "\n"
        ).encode(),
    )
    con, res = do_ingest(land.root, tmp_path / "w.duckdb")
    paths = dict(con.execute("select path, parse_path from raw.files").fetchall())
    assert paths["2024-R1/exam/AAA.csv"] == "bulk" and paths["2024-R1/exam/BBB.csv"] == "per_file"
    assert paths["2024-R1/exam/CCC.csv"] == "per_file" and paths["2024-R1/progress/BBB.csv"] == "per_file"
    got = con.execute(
        """select f.unit_code, r.row_number, r.examinee_id, r.rank_level, r.score, r.status
           from raw.exam_rows r join raw.files f using (file_id) order by 1, 2"""
    ).fetchall()
    by_unit: dict[str, list] = {}
    for unit, row_number, _id, level, score, status in got:
        by_unit.setdefault(unit, []).append((row_number, level, score, status))
    assert len(by_unit["AAA"]) == 3 and [r[0] for r in by_unit["AAA"]] == [1, 2, 3]
    assert by_unit["AAA"] == by_unit["BBB"] == by_unit["CCC"] == by_unit["EEE"]
    assert paths["2024-R1/exam/DDD.csv"] == "per_file" and paths["2024-R1/exam/EEE.csv"] == "bulk"
    assert (
        con.execute("select discipline_note from raw.exam_rows where examinee_id = 'CCC001'").fetchone()[0]
        == 'said "hello", twice'
    )
    errors = dict(con.execute("select path, read_error from raw.files where read_error is not null").fetchall())
    assert set(errors) == {"2024-R1/progress/BBB.csv", "2024-R1/exam/DDD.csv"}
    assert "line 2 has 18 cells, the header row 19" in errors["2024-R1/progress/BBB.csv"]
    assert "line 4 has 9 cells, the header row 8" in errors["2024-R1/exam/DDD.csv"]
    for kind in ("exam", "progress"):  # a file the bulk pass rejected is loaded once, by the per-file pass
        assert (
            con.execute(f"select file_id, row_number from raw.{kind}_rows group by all having count(*) > 1").fetchall()
            == []
        )
    assert (
        con.execute(  # a rejected file has no rows, whichever pass rejected it
            "select count(*) from raw.files f join raw.exam_rows r using (file_id) where f.read_error is not null"
        ).fetchone()[0]
        == 0
    )


def test_chunked_loading_gives_the_same_rows(tmp_path, monkeypatch):
    """Files are parsed in chunks to bound memory; chunk boundaries must not change what is loaded."""
    import reformwatch.ingest as ingest_module

    con, _ = do_ingest(SAMPLE_LANDING, tmp_path / "one.duckdb")
    whole = con.execute(
        "select f.path, r.* exclude (file_id) from raw.exam_rows r join raw.files f using (file_id) order by all"
    ).fetchall()
    con.close()
    monkeypatch.setattr(ingest_module, "CHUNK_FILES", 7)
    con, res = do_ingest(SAMPLE_LANDING, tmp_path / "chunks.duckdb")
    chunked = con.execute(
        "select f.path, r.* exclude (file_id) from raw.exam_rows r join raw.files f using (file_id) order by all"
    ).fetchall()
    assert res.files_read == 37 and chunked == whole and len(whole) == 582


def test_a_failed_chunk_load_fails_the_ingest(tmp_path, monkeypatch):
    """Chunks load in a background thread: its error reaches the caller, after which the connection is free."""
    import reformwatch.ingest as ingest_module

    real, calls = ingest_module._load_chunk, []

    def failing(con, chunk, *args):
        calls.append(len(chunk))
        if len(calls) == 2:
            raise duckdb.IOException("disk full")
        real(con, chunk, *args)

    monkeypatch.setattr(ingest_module, "CHUNK_FILES", 7)
    monkeypatch.setattr(ingest_module, "_load_chunk", failing)
    with pytest.raises(duckdb.IOException, match="disk full"):
        do_ingest(SAMPLE_LANDING, tmp_path / "w.duckdb")
    assert calls == [7, 7]  # stopped at the failure, the files after it were not loaded


def _raw_tables(con) -> dict[str, list]:
    """raw.files (without load time and run), raw rows and the snapshot, in a fixed order."""
    files = (
        "file_id, path, kind, unit_code, version, ext, size, mtime_ns, sha256, encoding, parse_path, read_error, n_rows"
    )
    return {
        "files": con.execute(f"select {files} from raw.files order by file_id").fetchall(),
        **{
            kind: con.execute(f"select * from raw.{kind}_rows order by file_id, row_number").fetchall()
            for kind in ("exam", "progress")
        },
        "landing": con.execute("select * exclude (first_seen_at) from raw.landing_files order by path").fetchall(),
    }


def test_files_prepared_in_worker_processes_load_as_in_this_process(tmp_path, monkeypatch):
    """Many files are read and decoded by worker processes (prep_worker): same rows, ids and provenance,
    including a file the bulk pass rejects (read back from the stream) and per-file ones."""
    import reformwatch.ingest as ingest_module

    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    exam = landing / "2018-R1" / "exam"
    aic = (exam / "AIC.csv").read_text(encoding="utf-8").rstrip("\n").split("\n")
    (exam / "AIC__v2.csv").write_text("\n".join([aic[0], aic[1] + ",extra", *aic[2:]]) + "\n", encoding="utf-8")
    env = (exam / "ENV.csv").read_text(encoding="utf-8").split("\n")
    cells = env[1].split(",")
    cells[6] = '"a note, quoted"'
    (exam / "ENV__v2.csv").write_text("\n".join([env[0], ",".join(cells), *env[2:]]), encoding="utf-8")
    monkeypatch.setattr(ingest_module, "CHUNK_FILES", 5)
    got = {}
    for workers in ("0", "2"):
        monkeypatch.setenv("REFORMWATCH_INGEST_WORKERS", workers)
        con, res = do_ingest(landing, tmp_path / f"w{workers}.duckdb")
        got[workers] = _raw_tables(con)
        assert res.files_read == 39
    assert got["0"] == got["2"]
    files = {r[1]: r for r in got["2"]["files"]}
    assert files["2018-R1/exam/AIC.csv"][10] == "bulk"
    assert files["2018-R1/exam/AIC__v2.csv"][10] == files["2018-R1/exam/ENV__v2.csv"][10] == "per_file"

    def rows_of(unit: str) -> list[tuple]:
        return [r[1:] for r in got["2"]["exam"] if r[0] == files[f"2018-R1/exam/{unit}.csv"][0]]

    assert files["2018-R1/exam/AIC__v2.csv"][11].startswith(
        "2018-R1/exam/AIC__v2.csv: the file is not a well-formed CSV table: line 2 has 9 cells, the header row 8"
    )
    assert len(rows_of("ENV__v2")) == len(rows_of("ENV")) > 0 and rows_of("ENV__v2")[0][7] == "a note, quoted"

    for p in landing.glob("*/*/*.*"):  # same content, new modification times: read, found known, not loaded
        os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10**9))
    con, res = do_ingest(landing, tmp_path / "w2.duckdb")
    again = _raw_tables(con)
    assert res.files_read == 0 and res.rows_loaded == 0
    assert again["exam"] == got["2"]["exam"] and [r[:6] for r in again["files"]] == [r[:6] for r in got["2"]["files"]]
    assert [r[7] for r in again["files"]] == [r[7] + 10**9 for r in got["2"]["files"]]


def _sample_jobs(tmp_path) -> list[tuple]:
    files = sorted(p.relative_to(SAMPLE_LANDING).as_posix() for p in SAMPLE_LANDING.glob("*/*/*.*"))
    return [
        (
            str(SAMPLE_LANDING),
            [(p, p.split("/")[1], p.rsplit(".", 1)[1]) for p in files[i : i + 4]],
            set(),
            str(tmp_path),
            f"c{i}",
        )
        for i in range(0, len(files), 4)
    ]


def test_prep_workers_prepare_chunks_in_order_as_this_process_does(tmp_path):
    from reformwatch.file_prep import prepare_chunk
    from reformwatch.prep_worker import PrepWorkers

    jobs = _sample_jobs(tmp_path)
    here = [prepare_chunk(*job) for job in jobs]
    with PrepWorkers(2) as workers:
        there = list(workers.map(jobs))
    assert [c.files for c in there] == [c.files for c in here] and len(here) == len(jobs) > 4
    assert [sorted(c.streams) for c in there] == [sorted(c.streams) for c in here]


def test_a_failed_prep_worker_fails_the_ingest_with_its_reason(tmp_path):
    """A worker that dies, or whose preparation raises, stops the ingest with the worker's reason: no
    second path prepares the chunk in this process."""
    from reformwatch.prep_worker import PrepError, PrepWorkers

    dies = [sys.executable, "-c", "import sys; sys.stderr.write('MemoryError: out of memory'); sys.exit(3)"]
    with PrepWorkers(2, command=dies) as workers, pytest.raises(PrepError, match="exit 3: MemoryError: out of memory"):
        list(workers.map(_sample_jobs(tmp_path)))
    with PrepWorkers(1) as workers, pytest.raises(PrepError, match="TypeError"):
        list(workers.map([("not", "a", "job")]))


def test_landing_snapshot_follows_the_scan_and_keeps_first_seen(tmp_path):
    """raw.landing_files is rewritten only where the scan differs; a (path, version) keeps first_seen_at."""
    import os

    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    db = tmp_path / "w.duckdb"
    con, _ = do_ingest(landing, db)
    first = dict(con.execute("select path, first_seen_at from raw.landing_files").fetchall())
    con.close()
    exam = landing / "2018-R1" / "exam"
    touched = exam / "AIC.csv"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))  # same content
    (exam / "COAL.csv").unlink()
    shutil.copy(exam / "ENV.csv", exam / "ENV__v2.csv")
    con, res = do_ingest(landing, db)
    snap = {r[0]: r[1:] for r in con.execute("select path, mtime_ns, first_seen_at from raw.landing_files").fetchall()}
    assert res.files_read == 1 and len(snap) == 37
    assert "2018-R1/exam/COAL.csv" not in snap
    assert snap["2018-R1/exam/AIC.csv"] == (touched.stat().st_mtime_ns, first["2018-R1/exam/AIC.csv"])
    assert snap["2018-R1/exam/ENV__v2.csv"][1] > max(first.values())
    assert all(snap[p][1] == first[p] for p in snap if p != "2018-R1/exam/ENV__v2.csv")


def test_unchanged_registries_are_read_back_and_changed_ones_validated_again(tmp_path, monkeypatch):
    from reformwatch import registry

    land = Landing(tmp_path / "landing").good_round()
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(con)
    loaded = load_registries(con, land.root)
    fingerprint = registry.registry_fingerprint(land.root, loaded.rounds)
    real_read = registry._read

    def no_read(*args):
        raise AssertionError("unchanged registries were read again")

    monkeypatch.setattr(registry, "_read", no_read)
    assert load_registries(con, land.root, loaded_fingerprint=fingerprint) == loaded
    monkeypatch.setattr(registry, "_read", real_read)
    units = land.root / "units.csv"
    units.write_text(units.read_text(encoding="utf-8") + "bad code,某单位\n", encoding="utf-8")
    with pytest.raises(registry.RegistryError, match=r"units.csv has invalid rows: row \d+: unit_code"):
        load_registries(con, land.root, loaded_fingerprint=fingerprint)


@pytest.mark.parametrize(
    ("full_marks", "problem"),
    [("0", "exam_full_marks is not a positive number"), ("1e12", "exam_full_marks 1e12 is not a mark scale")],
)
def test_round_full_marks_must_be_a_mark_scale(tmp_path, full_marks, problem):
    """Scores are summed as DECIMAL(38, 10) in the models: full marks bound every counted score."""
    land = Landing(tmp_path / "landing").good_round()
    rounds = land.root / "rounds.csv"
    header, *rows = rounds.read_text(encoding="utf-8").splitlines()
    col = header.split(",").index("exam_full_marks")
    first = rows[0].split(",")
    first[col] = full_marks
    rounds.write_text("\n".join([header, ",".join(first), *rows[1:]]) + "\n", encoding="utf-8")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(con)
    with pytest.raises(RegistryError, match=rf"rounds.csv has invalid rows: row \d+: {problem}"):
        load_registries(con, land.root)


def test_insert_columns_keeps_values_and_types():
    from reformwatch.csvload import insert_columns

    con = duckdb.connect()
    con.execute("create table t (i bigint, n integer, s varchar, b boolean, f double, ts timestamptz, z varchar)")
    when = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
    rows = [
        (1_700_000_000_123_456_789, None, 'a\'b,"c"', True, 0.1, when, None),
        (2, 3, None, False, 2.5, None, None),
        (-5, 2**31 - 1, "单位", None, None, when, None),
    ]
    insert_columns(con, "t", {c: [r[i] for r in rows] for i, c in enumerate(("i", "n", "s", "b", "f", "ts", "z"))})
    insert_columns(con, "t", {c: [] for c in ("i", "n", "s", "b", "f", "ts", "z")})
    assert con.execute("select * from t order by i desc").fetchall() == rows


def test_ingest_worker_count(monkeypatch):
    """Workers only for loads of three chunks or more; the setting is a whole number, else one per core."""
    from reformwatch.prep_worker import worker_count

    monkeypatch.delenv("REFORMWATCH_INGEST_WORKERS", raising=False)
    cores = min(4, os.cpu_count() or 1)
    assert worker_count(14_999, 5_000) == 0 and worker_count(15_000, 5_000) == cores
    for value, expected in (("0", 0), ("3", 3), ("two", cores), (" ", cores)):
        monkeypatch.setenv("REFORMWATCH_INGEST_WORKERS", value)
        assert worker_count(200_000, 5_000) == expected


@pytest.fixture(params=["0", "2"], ids=["in-process", "two-workers"])
def chunked_sample(request, tmp_path, monkeypatch):
    """A copy of the bundled round, read in chunks of 5 files (37 files: with "2", in two workers)."""
    import reformwatch.ingest as ingest_module

    monkeypatch.setattr(ingest_module, "CHUNK_FILES", 5)
    monkeypatch.setenv("REFORMWATCH_INGEST_WORKERS", request.param)
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    return landing


def test_a_file_removed_between_scan_and_read_is_left_to_the_next_run(tmp_path, monkeypatch, chunked_sample):
    """A clerk deletes a submission while a run reads the landing zone: the run goes on without it."""
    removed = chunked_sample / "2018-R1" / "exam" / "AIC.csv"
    kept = removed.read_bytes()
    after_the_scan(monkeypatch, removed.unlink)
    con, res = do_ingest(chunked_sample, tmp_path / "w.duckdb")
    assert res.files_seen == res.files_read == 36
    path = "2018-R1/exam/AIC.csv"
    assert con.execute("select count(*) from raw.files where path = ?", [path]).fetchone()[0] == 0
    assert con.execute("select count(*) from raw.landing_files where path = ?", [path]).fetchone()[0] == 0
    con.close()
    monkeypatch.undo()
    removed.write_bytes(kept)  # back again: read by the next run
    con, res = do_ingest(chunked_sample, tmp_path / "w.duckdb")
    assert res.files_read == 1 and res.rows_loaded > 0


def test_a_file_that_cannot_be_opened_is_rejected_and_read_by_the_next_run(tmp_path, monkeypatch, chunked_sample):
    """A landed file replaced by a folder after the scan (open fails as it would without read
    permission, also for root): an unreadable_file naming the file, not a crash; read once it is a file."""
    target = chunked_sample / "2018-R1" / "progress" / "AIC.csv"
    kept = target.read_bytes()
    after_the_scan(monkeypatch, replace_by_folder(target))
    con, res = do_ingest(chunked_sample, tmp_path / "w.duckdb")
    path = "2018-R1/progress/AIC.csv"
    assert (res.files_seen, res.files_read, res.files_rejected) == (37, 36, 1)
    assert con.execute("select count(*) from raw.files where path = ?", [path]).fetchone()[0] == 0
    check, detail, unit = con.execute(
        "select check_name, detail, unit_code from raw.landing_files where path = ?", [path]
    ).fetchone()
    assert (check, unit) == ("unreadable_file", "AIC")
    assert detail.startswith(f"{path} could not be opened (Is a directory) and was not read; save it again")
    con.close()
    monkeypatch.undo()
    target.rmdir()
    target.write_bytes(kept)
    con, res = do_ingest(chunked_sample, tmp_path / "w.duckdb")
    assert (res.files_read, res.files_rejected) == (1, 0)
    assert con.execute("select check_name from raw.landing_files where path = ?", [path]).fetchone()[0] is None
    assert con.execute("select n_rows from raw.files where path = ?", [path]).fetchone()[0] == 1


def test_a_registry_row_with_too_many_cells_is_named(tmp_path):
    """The message names the registry's line and how the row is wrong."""
    land = Landing(tmp_path / "landing").good_round()
    units = land.root / "units.csv"
    lines = units.read_text(encoding="utf-8").splitlines()
    units.write_text("\n".join([lines[0], lines[1] + ",extra", *lines[2:]]) + "\n", encoding="utf-8")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(con)
    expected = r"units.csv cannot be read: "
    expected += r"the file is not a well-formed CSV table: line 2 has 3 cells, the header row 2;"
    with pytest.raises(RegistryError, match=expected):
        load_registries(con, land.root)


def test_ingest_reports_the_files_read_after_each_chunk(tmp_path, monkeypatch):
    """progress(read, to read) follows the chunks as they are loaded and ends with all of them; a re-run
    with nothing to read reports nothing."""
    monkeypatch.setattr("reformwatch.ingest.CHUNK_FILES", 5)
    monkeypatch.setenv("REFORMWATCH_INGEST_WORKERS", "0")  # this process prepares the chunks
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(con)
    load_registries(con, SAMPLE_LANDING)

    def run(run_id: str) -> tuple[int, list[tuple[int, int]]]:
        calls: list[tuple[int, int]] = []
        res = ingest(
            con,
            SAMPLE_LANDING,
            run_id=run_id,
            loaded_at=datetime.now(UTC),
            max_file_bytes=10**8,
            progress=lambda *a: calls.append(a),
        )
        return res.files_read, calls

    n, calls = run("t")
    assert n == 37 and calls == [(i, n) for i in range(5, n, 5)] + [(n, n)]
    assert run("u") == (0, [])


def test_an_ingest_in_the_pipelines_transaction_loads_per_file_rows(tmp_path):
    """As the pipeline runs it: one transaction, a file parsed alone first in its chunk (an .xlsx whose
    cell holds a comma), a malformed one beside it; the good file's rows load, the bad one is rejected."""
    land = Landing(tmp_path / "landing")
    land.write("progress", "AAA.xlsx", [progress_row("AAA", has_handbook="是, 已印发")])
    land.write_bytes("progress", "BBB.csv", b"unit_code,submitted_at\nBBB,2024-06-01,extra\n")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(con)
    con.execute("begin")
    load_registries(con, land.root)
    ingest(con, land.root, run_id="t", loaded_at=datetime.now(UTC), max_file_bytes=10**8)
    con.execute("commit")
    got = con.execute(
        "select f.path, f.parse_path, f.read_error is null, r.has_handbook from raw.files f "
        "left join raw.progress_rows r using (file_id) order by 1"
    ).fetchall()
    assert got == [
        ("2024-R1/progress/AAA.xlsx", "per_file", True, "是, 已印发"),
        ("2024-R1/progress/BBB.csv", None, False, None),
    ]
