"""The landing scan: Python lists and stats, DuckDB parses names and applies the name-level checks."""

from __future__ import annotations

import os

import duckdb
import pytest
from test_decode import NAMES

from reformwatch import sql_functions
from reformwatch.contract import parse_file_name
from reformwatch.landing import Listing, list_landing, stage_scan

REGISTRIES = """
    create schema raw;
    create table raw.units as
        select * from (values (' AAA', '甲厅'), ('BBB', '乙局'), ('CCC', '丙办 ')) t(unit_code, unit_name);
    create table raw.rounds as select * from (values ('R1 ')) t(round_id);
    create table raw.scope as select * from (values ('R1', 'AAA'), ('R1', 'BBB')) t(round_id, unit_code);
"""


def scanned(listing: Listing, max_file_bytes: int = 10**8) -> dict[str, dict]:
    con = duckdb.connect()
    con.execute(REGISTRIES)  # as registry.load_registries stores them: units.csv and rounds.csv untrimmed
    sql_functions.install(con)  # as ingest.ensure_schema does
    stage_scan(con, listing, max_file_bytes)
    cur = con.execute("select * from landing_scanned order by idx")
    cols = [d[0] for d in cur.description]
    got = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    assert [r["idx"] for r in got] == list(range(len(listing)))
    return {r["path"]: r for r in got}


def joined(*listings: Listing) -> Listing:
    out = Listing()
    for part in listings:
        out.rejected |= {len(out) + i: r for i, r in part.rejected.items()}
        for col in ("round_id", "kind", "name", "size", "mtime_ns"):
            getattr(out, col).extend(getattr(part, col))
    return out


def one_folder(names: list[str], sizes: list[int] | None = None, round_id: str = "R1") -> Listing:
    n = len(names)
    return Listing([round_id] * n, ["progress"] * n, names, sizes or [10] * n, list(range(n)))


@pytest.mark.parametrize(("name", "parsed"), NAMES)
def test_file_names_parse_as_the_contract_rule_says(name, parsed):
    """DuckDB's reading of a name agrees with contract.parse_file_name (the rule's reference)."""
    assert parse_file_name(name) == parsed
    got = scanned(one_folder([name]))[f"R1/progress/{name}"]
    assert (got["unit_code"], got["version"], got["ext"]) == (parsed or (None, None, None))
    assert (got["check_name"] == "unreadable_file") == (parsed is None)


def test_each_name_level_check_and_its_message():
    got = scanned(
        joined(
            one_folder(["AAA.csv", "AAA__v2.csv", "AAA__v2.xlsx", "BBB.csv", "CCC.csv", "ZZZ.csv", "aaa.csv"]),
            one_folder(["AAA.csv"], round_id="R9"),
        )
    )
    assert got["R1/progress/AAA.csv"]["check_name"] is None and got["R1/progress/AAA.csv"]["detail"] is None
    assert got["R1/progress/BBB.csv"]["check_name"] is None
    for p in ("R1/progress/AAA__v2.csv", "R1/progress/AAA__v2.xlsx"):
        assert got[p]["check_name"] == "unreadable_file"
        assert got[p]["detail"].startswith(f"{p}: ambiguous version: another file in R1/progress/ is also version 2")
    ccc = got["R1/progress/CCC.csv"]
    assert ccc["check_name"] == "unknown_unit" and "unit CCC (丙办) is not in scope.csv of round R1" in ccc["detail"]
    zzz = got["R1/progress/ZZZ.csv"]
    assert zzz["check_name"] == "unknown_unit" and "unit code ZZZ is not in units.csv" in zzz["detail"]
    bad = got["R1/progress/aaa.csv"]
    assert bad["check_name"] == "unreadable_file" and bad["unit_code"] is None
    assert bad["detail"].startswith("file name 'aaa.csv' in R1/progress/ does not follow the rule")
    r9 = got["R9/progress/AAA.csv"]
    assert r9["check_name"] == "unknown_unit" and "folder R9/ is not a round listed in rounds.csv" in r9["detail"]


def test_the_first_failing_check_names_the_file():
    """A bad name in an unknown round is a bad name; a rejected file does not make another ambiguous."""
    got = scanned(joined(one_folder(["x.csv"], round_id="R9"), one_folder(["AAA.csv", "AAA.xlsx"], [10, 3 * 10**6])))
    assert "does not follow the rule" in got["R9/progress/x.csv"]["detail"]
    both = [got["R1/progress/AAA.csv"]["detail"], got["R1/progress/AAA.xlsx"]["detail"]]
    assert all("ambiguous version" in d for d in both)  # ambiguity is checked before size
    got = scanned(one_folder(["AAA.csv", "BBB.csv"], [10, 3 * 10**6]), max_file_bytes=10**6)
    assert got["R1/progress/AAA.csv"]["check_name"] is None
    assert got["R1/progress/BBB.csv"]["detail"] == (
        "R1/progress/BBB.csv: the file is 3 MB, over the 1 MB limit, and was not read; "
        "a submission is a few kB: send only the template's sheet"
    )


def test_listing_stats_files_and_rejects_odd_entries(tmp_path):
    folder = tmp_path / "R1" / "progress"
    folder.mkdir(parents=True)
    (folder / "BBB.csv").write_text("b")
    (folder / "AAA.csv").write_text("aaa")
    (folder / "sub").mkdir()
    (folder / "CCC.csv").symlink_to(folder / "AAA.csv")
    (tmp_path / "R1" / "exam").mkdir()
    (tmp_path / "R1" / "exam" / "AAA.csv").write_text("exam")
    (tmp_path / "R1" / "scope.csv").write_text("not listed")
    got = list_landing(tmp_path)
    assert list(zip(got.kind, got.name, strict=True)) == [
        ("progress", "AAA.csv"),
        ("progress", "BBB.csv"),
        ("progress", "CCC.csv"),
        ("progress", "sub"),
        ("exam", "AAA.csv"),
    ]
    assert got.size[:3] == [3, 1, 3]  # a link inside the landing zone counts as its target
    assert got.mtime_ns[0] == (folder / "AAA.csv").stat().st_mtime_ns
    assert list(got.rejected) == [3] and "R1/progress/sub is not a regular file" in got.rejected[3][1]
    assert scanned(got)["R1/progress/sub"]["check_name"] == "unreadable_file"


def test_a_file_removed_while_listing_is_left_out(tmp_path, monkeypatch):
    folder = tmp_path / "R1" / "progress"
    folder.mkdir(parents=True)
    (folder / "AAA.csv").write_text("a")
    real = os.listdir
    monkeypatch.setattr(os, "listdir", lambda fd: [*real(fd), "BBB.csv"])  # listed, then gone before its stat
    got = list_landing(tmp_path)
    assert got.name == ["AAA.csv"] and got.size == [1] and len(got.round_id) == len(got.kind) == 1
