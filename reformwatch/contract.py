"""Constants fixed by the data contract (shared/CONTRACT.md, version 1)."""

from __future__ import annotations

import re

KINDS = ("progress", "exam")

FILE_NAME_RE = re.compile(r"^(?P<unit>[A-Z0-9_]{1,32}?)(?:__v(?P<version>[0-9]+))?\.(?P<ext>csv|xlsx)$")
UNIT_CODE_RE = re.compile(r"^[A-Z0-9_]{1,32}$")
MAX_VERSION = 2**31 - 1  # versions are stored as 32-bit integers
ROUND_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")

PROGRESS_COLUMNS = (
    "unit_code",
    "submitted_at",
    "service_items_total",
    "service_items_online",
    "one_visit_items",
    "materials_before",
    "materials_now",
    "approval_days_before",
    "approval_days_now",
    "problem_clues",
    "negative_cases",
    "secret_inspection_groups",
    "inspections",
    "training_sessions",
    "training_attendance",
    "has_duty_list",
    "has_handbook",
    "has_question_bank",
    "self_exams",
)

EXAM_COLUMNS = (
    "unit_code",
    "examinee_id",
    "rank_level",
    "status",
    "absence_reason",
    "score",
    "discipline_note",
    "submitted_at",
)

# Columns a file must have. Every progress column is required (every value is);
# an exam sheet may leave out the two free-text columns, read as empty.
REQUIRED_COLUMNS = {
    "progress": PROGRESS_COLUMNS,
    "exam": tuple(c for c in EXAM_COLUMNS if c not in ("absence_reason", "discipline_note")),
}
ALL_COLUMNS = {"progress": PROGRESS_COLUMNS, "exam": EXAM_COLUMNS}

UNITS_COLUMNS = ("unit_code", "unit_name")
ROUNDS_COLUMNS = (
    "round_id",
    "title",
    "deadline",
    "exam_questions",
    "exam_full_marks",
    "exam_minutes",
    "pass_mark",
    "excellent_mark",
)
SCOPE_COLUMNS = ("unit_code", "cadre_headcount", "min_examinees")


def parse_file_name(name: str) -> tuple[str, int, str] | None:
    """Return (unit_code, version, ext) for a valid landing file name, else None."""
    m = FILE_NAME_RE.fullmatch(name)  # not .match: "$" would accept a trailing newline
    if not m:
        return None
    version = int(m["version"]) if m["version"] is not None else 1
    if not 1 <= version <= MAX_VERSION:
        return None
    return m["unit"], version, m["ext"]
