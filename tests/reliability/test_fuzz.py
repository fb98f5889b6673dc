"""Property-based fuzzing (hypothesis) of submissions: mutated CSV/XLSX files never crash a run; each is
rejected with dq.issues rows or accepted as valid; good units' figures do not move. Bounded."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from landing_builder import AFTER_DEADLINE, Landing, csv_text, exam_rows, progress_row, rows, xlsx_bytes

from reformwatch.contract import EXAM_COLUMNS, PROGRESS_COLUMNS
from reformwatch.ingest import ensure_schema, ingest
from reformwatch.registry import load_registries

EXE = Path(sys.executable).parent / "reformwatch"


def valid(kind: str, unit: str) -> tuple[list[str], list[dict]]:
    if kind == "progress":
        return list(PROGRESS_COLUMNS), [progress_row(unit)]
    return list(EXAM_COLUMNS), exam_rows(unit)


@st.composite
def mutated_file(draw, unit: str) -> tuple[str, str, bytes]:
    """(kind, file name, bytes): a valid submission with one or two mutations."""
    kind = draw(st.sampled_from(["progress", "exam"]))
    header, body = valid(kind, unit)
    fmt = draw(st.sampled_from(["csv", "csv", "csv", "xlsx"]))
    ops = draw(
        st.lists(
            st.sampled_from(
                [
                    *("bytes", "truncate", "encoding", "shuffle", "huge", "empty", "bom", "cell", "drop_header"),
                    *("dup", "ragged", "quote", "long_cell", "dup_header", "nul"),
                ]
            ),
            min_size=1,
            max_size=2,
        )
    )
    if "shuffle" in ops:
        header = draw(st.permutations(header))
    if "huge" in ops:
        col = draw(st.sampled_from(header))
        body = [
            dict(r, **{col: draw(st.sampled_from(["1e308", "99999999999999999999999", "-1", "NaN", "1e-300"]))})
            for r in body
        ]
    if "cell" in ops:
        col = draw(st.sampled_from(header))
        body = [dict(r, **{col: draw(st.text(max_size=12))}) for r in body]
    if "dup" in ops:
        body = body + body
    if "long_cell" in ops:
        col = draw(st.sampled_from(header))
        body = [dict(body[0], **{col: "x" * draw(st.sampled_from([40_000, 200_000]))}), *body[1:]]
    if "quote" in ops:
        col = draw(st.sampled_from(header))
        body = [dict(body[0], **{col: draw(st.sampled_from(['"', 'a"b', '""', "\n"]))}), *body[1:]]
    if fmt == "xlsx":
        try:
            data = xlsx_bytes(header, body)
        except Exception:  # openpyxl refuses some control characters: fall back to CSV
            fmt, data = "csv", csv_text(header, body).encode()
    else:
        text = csv_text(header, body)
        if "drop_header" in ops:
            text = text.split("\n", 1)[1]
        if "dup_header" in ops:
            text = text.replace(",", f",{draw(st.sampled_from(header))},", 1)
        if "ragged" in ops:
            lines = text.split("\n")
            at = 1 + draw(st.integers(0, 10**6)) % max(1, len(lines) - 1)
            lines[at] = lines[at] + ",x" if draw(st.booleans()) else lines[at].rpartition(",")[0]
            text = "\n".join(lines)
        if "quote" in ops and draw(st.booleans()):
            text = text.replace("\n", '\n"', 1)  # a quote opened and never closed
        if "nul" in ops:
            text = text.replace(",", ",\x00", 1)
        enc = (
            draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16", "latin-1"]))
            if "encoding" in ops
            else "utf-8"
        )
        data = text.encode(enc, errors="replace")
    # positions are drawn independently of the data's length (XLSX bytes vary with zip timestamps)
    if "bom" in ops:
        at = draw(st.integers(0, 10**6)) % (len(data) + 1)
        data = data[:at] + b"\xef\xbb\xbf" + data[at:]
    if "bytes" in ops and data:
        for _ in range(draw(st.integers(1, 5))):
            at = draw(st.integers(0, 10**6)) % len(data)
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    if "truncate" in ops:
        data = data[: draw(st.integers(0, 10**6)) % (len(data) + 1)]
    if "empty" in ops:
        data = b""
    return kind, f"{unit}.{fmt}", data


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(st.data())
def test_ingest_never_crashes_and_accounts_for_every_file(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("fuzz_ingest")
    land = Landing(root / "landing")
    kind, name, payload = data.draw(mutated_file("AAA"))
    land.write_bytes(kind, name, payload)
    con = duckdb.connect(str(root / "w.duckdb"))
    ensure_schema(con)
    load_registries(con, land.root)
    res = ingest(con, land.root, run_id="f", loaded_at=datetime.now(UTC), max_file_bytes=10**8)
    assert res.files_seen == 1
    read_error, n_rows = con.execute("select read_error, n_rows from raw.files").fetchone()
    table = "raw.progress_rows" if kind == "progress" else "raw.exam_rows"
    assert (read_error is not None) or n_rows == con.execute(f"select count(*) from {table}").fetchone()[0]
    if read_error:
        assert name in read_error  # the message names the file
    con.close()


FUZZED_UNITS = ["U1", "U2", "U3", "U4", "U5"]
GOOD_UNITS = ["G1", "G2"]


@settings(
    max_examples=6,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_whole_run_with_mutated_files(tmp_path_factory, data):
    """`reformwatch run`, as users run it, on a landing zone whose files are mutated: exit 0 and a published
    warehouse every time; each mutated file is flagged or in force; the good units' figures do not move."""
    root = tmp_path_factory.mktemp("fuzz_run")
    units = {u: u for u in FUZZED_UNITS + GOOD_UNITS}
    land = Landing(root / "landing", units=units)
    land.good_round()
    mutated = []
    for u in FUZZED_UNITS:
        kind, name, payload = data.draw(mutated_file(u))
        version = data.draw(st.sampled_from(["", "__v2"]))  # a first submission, or a resubmission
        if not version:
            (land.root / "2024-R1" / kind / f"{u}.csv").unlink()
        name = name.replace(".", f"{version}.", 1)
        land.write_bytes(kind, name, payload)
        mutated.append((u, kind, f"2024-R1/{kind}/{name}"))
    warehouse = root / "wh" / "w.duckdb"
    out = subprocess.run(
        [str(EXE), "run", "--landing", str(land.root), "--warehouse", str(warehouse), "--as-of", AFTER_DEADLINE],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and warehouse.is_file()
    con = duckdb.connect(str(warehouse), read_only=True)
    flagged = {r["file_path"] for r in rows(con, "select distinct file_path from dq.issues")}
    flagged_units = {(r["unit_code"], r["source"]) for r in rows(con, "select unit_code, source from dq.issues")}
    in_force = {
        (r["unit_code"], r["source"]): r["file_path"] for r in rows(con, "select * from marts.unit_round_sources")
    }
    for unit, kind, path in mutated:
        assert path in flagged or (unit, kind) in flagged_units or in_force.get((unit, kind)) == path, path
    good = rows(
        con, "select unit_code, online_rate, version from marts.reform_unit_round where unit_code like 'G%' order by 1"
    )
    assert good == [{"unit_code": g, "online_rate": 0.8, "version": 1} for g in GOOD_UNITS]
    exam = rows(
        con, "select unit_code, examinees, avg_score from marts.exam_unit_round where unit_code like 'G%' order by 1"
    )
    assert exam == [{"unit_code": g, "examinees": 5, "avg_score": 82.0} for g in GOOD_UNITS]
    con.close()
