"""Build small contract landing zones inside tests, and run the real pipeline on them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from reformwatch.config import Settings
from reformwatch.contract import EXAM_COLUMNS, PROGRESS_COLUMNS
from reformwatch.pipeline import parse_as_of, run

ROUND = "2024-R1"
DEADLINE = "2024-06-30T18:00:00+08:00"
BEFORE_DEADLINE = "2024-06-01T00:00:00+08:00"
AFTER_DEADLINE = "2024-07-15T00:00:00+08:00"
UNITS = {"AAA": "甲厅", "BBB": "乙局", "CCC": "丙委"}


def progress_row(unit: str, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "unit_code": unit,
        "submitted_at": "2024-06-20T10:00:00+08:00",
        "service_items_total": 100,
        "service_items_online": 80,
        "one_visit_items": 10,
        "materials_before": 400,
        "materials_now": 300,
        "approval_days_before": 1000,
        "approval_days_now": 800,
        "problem_clues": 1,
        "negative_cases": 2,
        "secret_inspection_groups": 1,
        "inspections": 4,
        "training_sessions": 5,
        "training_attendance": 200,
        "has_duty_list": "是",
        "has_handbook": "是",
        "has_question_bank": "否",
        "self_exams": 1,
    }
    row.update(over)
    return row


def exam_rows(unit: str, scores: list[float] = (95, 85, 70, 100, 60), **over: object) -> list[dict[str, object]]:
    levels = ["处级", "科级", "科级", "厅级", "处级"]
    rows = []
    for i, s in enumerate(scores):
        row: dict[str, object] = {
            "unit_code": unit,
            "examinee_id": f"{unit}{i + 1:03d}",
            "rank_level": levels[i % len(levels)],
            "status": "参考",
            "absence_reason": "",
            "score": s,
            "discipline_note": "",
            "submitted_at": "2024-06-21T09:00:00+08:00",
        }
        row.update(over)
        rows.append(row)
    return rows


def csv_text(header: list[str] | tuple[str, ...], rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c in header])
    return out.getvalue()


def xlsx_bytes(header: list[str] | tuple[str, ...], rows: list[dict[str, object]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(list(header))
    for r in rows:
        ws.append([None if r.get(c) in (None, "") else r.get(c) for c in header])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@dataclass
class Landing:
    root: Path
    units: dict[str, str] = field(default_factory=lambda: dict(UNITS))
    scope: dict[str, tuple[int, int]] = field(default_factory=dict)  # unit -> (headcount, min_examinees)
    round_id: str = ROUND
    deadline: str = DEADLINE

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.scope:
            self.scope = {u: (50, 3) for u in self.units}
        self.write_registries()

    def write_registries(self) -> None:
        (self.root / "units.csv").write_text(
            csv_text(["unit_code", "unit_name"], [{"unit_code": c, "unit_name": n} for c, n in self.units.items()]),
            encoding="utf-8",
        )
        (self.root / "rounds.csv").write_text(
            "round_id,title,deadline,exam_questions,exam_full_marks,exam_minutes,pass_mark,excellent_mark\n"
            f"{self.round_id},测试轮次,{self.deadline},45,100,30,60,90\n",
            encoding="utf-8",
        )
        rd = self.root / self.round_id
        rd.mkdir(exist_ok=True)
        (rd / "scope.csv").write_text(
            "unit_code,cadre_headcount,min_examinees\n" + "".join(f"{u},{h},{m}\n" for u, (h, m) in self.scope.items()),
            encoding="utf-8",
        )

    def path(self, kind: str, name: str) -> Path:
        p = self.root / self.round_id / kind / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write(self, kind: str, name: str, rows: list[dict], *, header=None, encoding: str = "utf-8") -> Path:
        header = header or (PROGRESS_COLUMNS if kind == "progress" else EXAM_COLUMNS)
        p = self.path(kind, name)
        if name.endswith(".xlsx"):
            p.write_bytes(xlsx_bytes(header, rows))
        else:
            p.write_bytes(csv_text(header, rows).encode(encoding))
        return p

    def write_bytes(self, kind: str, name: str, data: bytes) -> Path:
        p = self.path(kind, name)
        p.write_bytes(data)
        return p

    def progress(self, unit: str, name: str | None = None, **over: object) -> Path:
        return self.write("progress", name or f"{unit}.csv", [progress_row(unit, **over)])

    def exam(self, unit: str, name: str | None = None, rows: list[dict] | None = None, **kw) -> Path:
        return self.write("exam", name or f"{unit}.csv", rows if rows is not None else exam_rows(unit), **kw)

    def good_round(self, skip: tuple[str, ...] = ()) -> Landing:
        for u in self.units:
            if u not in skip:
                self.progress(u)
                self.exam(u)
        return self


def after_the_scan(monkeypatch, action: Callable[[], None]) -> None:
    """Do `action` right after the ingest's scan listed the landing zone: a clerk changing a file while a
    run reads the folder. `monkeypatch.undo()` ends it."""
    import reformwatch.ingest as ingest_module

    real_scan = ingest_module.scan

    def scan_then_act(*args, **kwargs):
        seen = real_scan(*args, **kwargs)
        action()
        return seen

    monkeypatch.setattr(ingest_module, "scan", scan_then_act)


def replace_by_folder(path: Path) -> Callable[[], None]:
    """An action that replaces the file at `path` by a folder: opening it fails, as without read permission
    (which root, running the tests, would not see)."""

    def act() -> None:
        path.unlink()
        path.mkdir()

    return act


def run_pipeline(landing: Path, warehouse: Path, as_of: str = AFTER_DEADLINE) -> duckdb.DuckDBPyConnection:
    """Run the real pipeline (ingest + dbt + publish) and open the published warehouse read-only."""
    settings = Settings(landing=landing, warehouse=warehouse)
    run(settings, parse_as_of(as_of), say=lambda _m: None)
    return duckdb.connect(str(warehouse), read_only=True)


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def issues(con: duckdb.DuckDBPyConnection, check_name: str | None = None) -> list[dict]:
    sql = "select * from dq.issues" + (" where check_name = ?" if check_name else "")
    return rows(con, sql, [check_name] if check_name else [])


def now() -> datetime:
    return datetime.now()


CONTRACT_TABLES = (
    "marts.reform_unit_round",
    "marts.reform_round",
    "marts.exam_unit_round",
    "marts.exam_level_round",
    "marts.exam_round",
    "dq.issues",
)
RUN_TIMESTAMPS = ("detected_at", "loaded_at")  # when a file was first seen/loaded: differs between warehouses


def warehouse_snapshot(
    warehouse: Path, tables: tuple[str, ...] = CONTRACT_TABLES, drop: tuple[str, ...] = RUN_TIMESTAMPS
) -> dict[str, list[dict]]:
    """Every row of the tables (sorted), without the columns that only say when this warehouse saw a file."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        snap = {t: rows(con, f"select * from {t} order by all") for t in tables}
    finally:
        con.close()
    for table_rows in snap.values():
        for r in table_rows:
            for col in drop:
                r.pop(col, None)
    return snap
