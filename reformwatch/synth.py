"""Synthetic contract landing zones of any size, deterministic for a seed, with planted faults.

Formats are mixed as in practice (mostly UTF-8 CSV, some GB18030 CSV and XLSX, some resubmissions).
A chosen share of units gets one planted fault each; `faults.json` lists every issue the pipeline
must raise because of them (round_id, unit_code, source, check_name), and nothing else is raised.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .contract import EXAM_COLUMNS, PROGRESS_COLUMNS, ROUNDS_COLUMNS, UNITS_COLUMNS

LEVELS = ("厅级", "处级", "科级")

# fault -> issues it must raise, as (source, check_name)
FAULTS: dict[str, list[tuple[str, str]]] = {
    "garbage_progress": [("progress", "unreadable_file"), ("progress", "missing_submission")],
    "online_exceeds_total": [("progress", "online_exceeds_total"), ("progress", "missing_submission")],
    "invalid_value": [("progress", "invalid_value"), ("progress", "missing_submission")],
    "two_progress_rows": [("progress", "progress_row_count"), ("progress", "missing_submission")],
    "wrong_unit_code": [("progress", "unit_code_mismatch"), ("progress", "missing_submission")],
    "late_progress": [("progress", "late_submission")],
    "no_progress": [("progress", "missing_submission")],
    "materials_increased": [("progress", "materials_increased")],
    "score_out_of_range": [("exam", "score_out_of_range")],
    "score_not_a_number": [("exam", "invalid_value")],
    "missing_score": [("exam", "missing_score")],
    "unknown_rank_level": [("exam", "unknown_rank_level")],
    "unknown_status": [("exam", "unknown_status")],
    "absent_without_reason": [("exam", "absent_without_reason")],
    "duplicate_examinee_row": [("exam", "duplicate_examinee_row")],
    "conflicting_examinee_rows": [("exam", "conflicting_examinee_rows")],
    "no_exam": [("exam", "missing_exam_results")],
}


@dataclass
class SynthResult:
    out: Path
    units: int
    rounds: int
    files: int = 0
    rows: int = 0
    faults: list[dict] = field(default_factory=list)


def _csv(header: tuple[str, ...], rows: list[list[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _xlsx(header: tuple[str, ...], rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("data")
    ws.append(list(header))
    for r in rows:
        ws.append([None if v == "" else v for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _progress_row(rng: random.Random, unit: str, submitted: str) -> list[object]:
    total = rng.randint(20, 400)
    before = total * rng.randint(3, 6)
    days = total * rng.randint(5, 12)
    return [
        unit,
        submitted,
        total,
        rng.randint(total // 4, total),
        rng.randint(0, total // 4),
        before,
        before - rng.randint(0, before // 3),
        days,
        days - rng.randint(0, days // 2),
        rng.randint(0, 2),
        rng.randint(0, 30),
        rng.randint(0, 3),
        rng.randint(0, 12),
        rng.randint(0, 30),
        rng.randint(0, 2000),
        rng.choice(["是", "否"]),
        rng.choice(["是", "否"]),
        rng.choice(["是", "否"]),
        rng.randint(0, 3),
    ]


def _exam_rows(rng: random.Random, unit: str, prefix: str, n: int, submitted: str) -> list[list[object]]:
    rows = []
    for i in range(n):
        if i == n - 1 and n > 1:
            rows.append([unit, f"{prefix}{i:05d}", LEVELS[i % 3], "缺考", "病假", "", "", submitted])
        else:
            score = rng.choice([100, rng.randint(55, 100), rng.randint(70, 99), round(rng.uniform(60, 100), 1)])
            note = "旁窥" if rng.random() < 0.01 else ""
            rows.append([unit, f"{prefix}{i:05d}", LEVELS[rng.randrange(3)], "参考", "", score, note, submitted])
    return rows


def synth(
    out: Path,
    units: int,
    examinees_per_unit: int,
    rounds: int = 1,
    fault_rate: float = 0.05,
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
) -> SynthResult:
    """Write a landing zone to `out` (must be empty or absent)."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    codes = [f"U{i:06d}" for i in range(units)]
    (out / "units.csv").write_text(_csv(UNITS_COLUMNS, [[c, f"合成单位{c[1:]}"] for c in codes]), encoding="utf-8")
    round_ids = [f"S{2024 + k}-R1" for k in range(rounds)]
    deadlines = [f"{2024 + k}-06-30T18:00:00+08:00" for k in range(rounds)]
    (out / "rounds.csv").write_text(
        _csv(
            ROUNDS_COLUMNS,
            [[r, f"合成轮次 {r}", d, 45, 100, 30, 60, 90] for r, d in zip(round_ids, deadlines)],
        ),
        encoding="utf-8",
    )
    res = SynthResult(out, units, rounds)
    fault_names = list(FAULTS)
    min_examinees = max(1, examinees_per_unit // 2)
    for k, round_id in enumerate(round_ids):
        year = 2024 + k
        on_time, late = f"{year}-06-20T10:00:00+08:00", f"{year}-07-02T09:00:00+08:00"
        rd = out / round_id
        (rd / "progress").mkdir(parents=True)
        (rd / "exam").mkdir()
        (rd / "scope.csv").write_text(
            _csv(
                ("unit_code", "cadre_headcount", "min_examinees"),
                [[c, examinees_per_unit * rng.randint(3, 8), min_examinees] for c in codes],
            ),
            encoding="utf-8",
        )
        for n, unit in enumerate(codes):
            fault = rng.choice(fault_names) if rng.random() < fault_rate else None
            fmt = rng.random()
            ext, enc = ("xlsx", None) if fmt < 0.03 else ("csv", "gb18030" if fmt < 0.08 else "utf-8")
            # progress return
            prow = _progress_row(rng, unit, late if fault == "late_progress" else on_time)
            prows = [prow]
            if fault == "online_exceeds_total":
                prow[3] = prow[2] + 5
            elif fault == "invalid_value":
                prow[6] = "约三百"
            elif fault == "two_progress_rows":
                prows = [prow, list(prow)]
            elif fault == "wrong_unit_code":
                prow[0] = codes[(n + 1) % units] if units > 1 else "OTHER"
            elif fault == "materials_increased":
                prow[6] = prow[5] + 10
            if fault == "garbage_progress":
                (rd / "progress" / f"{unit}.csv").write_bytes(bytes(rng.randrange(256) for _ in range(300)))
                res.files += 1
            elif fault != "no_progress":
                res.files += _write(rd / "progress" / f"{unit}.{ext}", PROGRESS_COLUMNS, prows, enc)
                res.rows += len(prows)
                if fault is None and rng.random() < 0.02:  # a valid resubmission with other figures
                    res.files += _write(
                        rd / "progress" / f"{unit}__v2.csv",
                        PROGRESS_COLUMNS,
                        [_progress_row(rng, unit, on_time)],
                        "utf-8",
                    )
                    res.rows += 1
            # exam sheet
            if fault != "no_exam":
                erows = _exam_rows(rng, unit, f"{unit[1:]}{k}", examinees_per_unit, on_time)
                first = erows[0]
                if fault == "score_out_of_range":
                    first[5] = 105
                elif fault == "score_not_a_number":
                    first[5] = "九十"
                elif fault == "missing_score":
                    first[5] = ""
                elif fault == "unknown_rank_level":
                    first[2] = "副处级"
                elif fault == "unknown_status":
                    first[3] = "请假"
                elif fault == "absent_without_reason" and len(erows) > 1:
                    erows[-1][4] = ""
                elif fault == "duplicate_examinee_row":
                    erows.append(list(first))
                elif fault == "conflicting_examinee_rows":
                    erows.append(first[:5] + [0 if first[5] != 0 else 1] + first[6:])
                res.files += _write(rd / "exam" / f"{unit}.{ext}", EXAM_COLUMNS, erows, enc)
                res.rows += len(erows)
            if fault:
                if fault == "absent_without_reason" and examinees_per_unit < 2:
                    continue
                for source, check in FAULTS[fault]:
                    res.faults.append(
                        {"round_id": round_id, "unit_code": unit, "source": source, "check_name": check, "fault": fault}
                    )
            if progress and (n + 1) % 10000 == 0:
                progress(f"{round_id}: {n + 1}/{units} units written")
    (out / "faults.json").write_text(json.dumps(res.faults, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return res


def _write(path: Path, header: tuple[str, ...], rows: list[list[object]], encoding: str | None) -> int:
    if path.suffix == ".xlsx":
        path.write_bytes(_xlsx(header, rows))
    else:
        path.write_bytes(_csv(header, rows).encode(encoding or "utf-8"))
    return 1
