"""Check submissions before they land (`reformwatch check`): the pipeline's own checks on a copy.

The files are placed, under their own names, in a temporary landing zone with the office's registries
(units.csv, rounds.csv and the round's scope.csv) and `reformwatch run` builds a temporary warehouse
from it: every check is the pipeline's, with its messages (name, encoding, header, rows, values,
consistency). Checks that need the other units' files (missing submissions) do not apply. The landing
zone, the warehouse and the reports are not touched; the temporary folder is removed.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from .contract import KINDS
from .decode import DecodeError, decode_bytes, split_header

KEPT_SETTINGS = ("REFORMWATCH_DUCKDB_MEMORY", "REFORMWATCH_MAX_FILE_MB")  # the others name places


class CheckError(Exception):
    """The files cannot be checked (no registries, an unknown round); the message says why."""


@dataclass(frozen=True)
class Problem:
    file: str  # as given on the command line
    row: int | None
    check_name: str
    severity: str  # error: the file (or row) would not be used; warning: it would, with a note
    detail: str


@dataclass(frozen=True)
class Placed:
    given: Path  # the file as given
    round_id: str
    kind: str

    @property
    def landed(self) -> str:
        """Its path in a landing zone, as dq.issues names it."""
        return f"{self.round_id}/{self.kind}/{self.given.name}"


def registered_rounds(landing: Path) -> dict[str, str]:
    """round_id -> deadline text, from the landing zone's rounds.csv."""
    path = landing / "rounds.csv"
    if not path.is_file():
        raise CheckError(f"no rounds.csv in {landing}: give the office's landing zone with --landing")
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {(r.get("round_id") or "").strip(): (r.get("deadline") or "").strip() for r in csv.DictReader(f)}


def place(file: Path, rounds: dict[str, str], round_id: str | None = None, kind: str | None = None) -> Placed:
    """Which round and kind a file is checked as: as given, else from its folders (<round>/<kind>/<file>),
    else the round with the latest deadline and the kind its header names."""
    parts = file.resolve().parts
    round_id = round_id or (parts[-3] if len(parts) >= 3 and parts[-3] in rounds else None)
    if round_id is None:
        round_id = max(rounds, key=lambda r: (rounds[r], r))
    if round_id not in rounds:
        raise CheckError(f"round {round_id} is not in rounds.csv (rounds: {', '.join(sorted(rounds))})")
    kind = kind or (parts[-2] if len(parts) >= 2 and parts[-2] in KINDS else None) or _kind_of_header(file)
    return Placed(file, round_id, kind)


def _kind_of_header(file: Path) -> str:
    """exam when the header names examinee_id, else progress (a file that cannot be read: progress, and
    the check says why it cannot be read)."""
    try:
        header, _ = split_header(decode_bytes(file.read_bytes(), file.suffix.lower().lstrip(".")).text)
    except (DecodeError, OSError, ValueError):
        return "progress"
    return "exam" if "examinee_id" in header else "progress"


def check(files: list[Path], landing: Path, round_id: str | None = None, kind: str | None = None) -> list[Problem]:
    """The problems the pipeline would report for these files (none: every file would be used)."""
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise CheckError(f"no such file: {', '.join(missing)}")
    rounds = registered_rounds(landing)
    placed = [place(f, rounds, round_id, kind) for f in files]
    with tempfile.TemporaryDirectory(prefix="reformwatch-check-") as tmp:
        copy = Path(tmp) / "landing"
        copy.mkdir()
        for name in ("units.csv", "rounds.csv"):
            if (landing / name).is_file():
                shutil.copyfile(landing / name, copy / name)
        for p in placed:
            folder = copy / p.round_id / p.kind
            folder.mkdir(parents=True, exist_ok=True)
            if (landing / p.round_id / "scope.csv").is_file():
                shutil.copyfile(landing / p.round_id / "scope.csv", copy / p.round_id / "scope.csv")
            shutil.copyfile(p.given, folder / p.given.name)
        warehouse = Path(tmp) / "check.duckdb"
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("REFORMWATCH_") or k == "REFORMWATCH_DUCKDB_MEMORY"
        }
        env["REFORMWATCH_REPORTS"] = str(Path(tmp) / "reports")
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "reformwatch",
                "run",
                "--landing",
                str(copy),
                "--warehouse",
                str(warehouse),
                "--as-of",
                datetime.now(UTC).isoformat(),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if run.returncode != 0:
            reason = (run.stderr.strip().splitlines() or ["no message"])[-1]
            raise CheckError(f"the check could not run: {reason}")
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            got = con.execute(
                """select file_path, row_number, check_name, severity, detail from dq.issues
                   where file_path in (select unnest($1::varchar[]))
                   order by file_path, row_number nulls first, check_name""",
                [[p.landed for p in placed]],
            ).fetchall()
        finally:
            con.close()
    given = {p.landed: str(p.given) for p in placed}
    return [Problem(given[path], row, name, severity, detail) for path, row, name, severity, detail in got]
