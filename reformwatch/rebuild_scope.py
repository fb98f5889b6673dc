"""What an incremental dbt build rebuilds: the kinds whose files changed, the rounds, and within a round
the units.

The pipeline keeps, for the last successful build, a digest per kind and per round of the landing zone's
files (raw.pipeline_state.built_parts) and the landing zone's list of files itself (raw.built_landing_files).
Comparing them with those of the files ingested since gives what changed. dbt reads the result from two
environment variables (macros by_round and rebuilt_rounds): REFORMWATCH_REBUILD_ROUNDS, the rounds whose
roll-ups are rebuilt whole, and REFORMWATCH_REBUILD_UNITS, the rounds where only some units' files
changed, with those units: the roll-ups with a row per unit rebuild those units' rows only, the round's
totals are added up again from them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb

from .contract import KINDS

UNIT_LIMIT = 1_000  # more units changed in a round than this: its roll-ups are rebuilt whole

_KEPT = ("round_id", "unit_code", "kind", "path", "file_id", "check_name", "detail")  # what a unit's rows depend on
_BUILT_COLUMNS = ", ".join(_KEPT)


@dataclass(frozen=True)
class RebuildScope:
    """The rows an incremental build's roll-up models rebuild (dbt macros by_round, rebuilt_rounds)."""

    rounds: list[str] | None = None  # rebuilt whole; None: every round (not known, or a full refresh)
    units: dict[str, list[str]] = field(default_factory=dict)  # round -> its only units with changed files

    def env(self) -> dict[str, str]:
        """The environment variables dbt reads the scope from (none: every round)."""
        if self.rounds is None:
            return {}
        return {
            "REFORMWATCH_REBUILD_ROUNDS": json.dumps(self.rounds),
            "REFORMWATCH_REBUILD_UNITS": json.dumps(self.units),
        }

    def describe(self) -> str:
        """E.g. 'S2024-R1, S2025-R1 (units U0001, U0002 only)'; 'every round'; 'none'."""
        if self.rounds is None:
            return "every round"
        named = [(r, "") for r in self.rounds]
        for r, units in self.units.items():
            listed = ", ".join(units[:5]) + (f" and {len(units) - 5} more" if len(units) > 5 else "")
            named.append((r, f" (units {listed} only)" if units else " (files without a unit only)"))
        named.sort()
        text = ", ".join(r + detail for r, detail in named[:5])
        return (text + (f" and {len(named) - 5} more" if len(named) > 5 else "")) or "none"


def round_digests(
    file_digests: dict[str, str], rounds: set[str], passed: set[str], registries: dict[str, dict[str, str]]
) -> dict[str, str]:
    """Round -> what its rows depend on: the digest of its files, whether its deadline has passed, and
    what the registries say of it (registry.round_registries), for the registry's rounds and the round
    folders landed."""
    said = {r: got["registry"] for r, got in registries.items()}
    return {
        r: f"{file_digests.get(r, '')}|{'passed' if r in passed else 'open'}|{said.get(r, '-')}"
        for r in {*rounds, *file_digests}
    }


def _round_state(digest: str) -> str:
    """What a round's digest (round_digests) says besides its files: its deadline state and registries."""
    return digest.partition("|")[2]


def _rounds_of(parts: str | None) -> dict[str, str] | None:
    """The round digests in a pipeline_state parts column (JSON), None when it has none."""
    return json.loads(parts or "{}").get("rounds")


def changed_rounds(pending_parts: str | None, built_parts: str | None) -> list[str] | None:
    """The rounds whose files, or whether their deadline has passed, changed since the last successful
    build (a round gone from the landing zone and the registry included). None when that is not known:
    every round."""
    return _differing_rounds(_rounds_of(pending_parts), _rounds_of(built_parts))


def _differing_rounds(pending: dict[str, str] | None, built: dict[str, str] | None) -> list[str] | None:
    """The rounds whose digest differs between two sets of round digests; None when either is unknown."""
    if pending is None or built is None:
        return None
    return sorted(r for r in pending.keys() | built.keys() if pending.get(r) != built.get(r))


def unchanged_kinds(pending_parts: str | None, built_parts: str | None) -> list[str]:
    """The kinds (progress, exam) whose files are those of the last successful build, when nothing else
    (registries, deadlines passed) changed either: their dbt models (tagged with the kind) need no rebuild."""
    pending, built = json.loads(pending_parts or "{}"), json.loads(built_parts or "{}")
    if not pending or pending.get("common") != built.get("common"):
        return []
    return [kind for kind in KINDS if kind in pending and pending[kind] == built.get(kind)]


def marks_changed(pending_parts: str | None, built_parts: str | None) -> bool:
    """Whether a round of the last successful build has other full, pass or excellent marks now (or that is
    not known): the per-file models read them, so the next build is a full refresh."""
    pending = json.loads(pending_parts or "{}").get("round_registries")
    built = json.loads(built_parts or "{}").get("round_registries")
    if pending is None or built is None:
        return True
    return any(r in pending and pending[r]["marks"] != was["marks"] for r, was in built.items())


def registries_changed(pending_parts: str | None, built_parts: str | None) -> bool:
    """Whether the registry files differ from those of the last successful build."""
    pending, built = json.loads(pending_parts or "{}"), json.loads(built_parts or "{}")
    return "registries" not in pending or pending.get("registries") != built.get("registries")


def rebuild_scope(con: duckdb.DuckDBPyConnection, pending_parts: str | None, built_parts: str | None) -> RebuildScope:
    """What the next incremental build rebuilds, from the digests (pipeline_state) and the list of files of
    the last successful build (raw.built_landing_files) against the landing zone's (raw.landing_files).

    A changed round is rebuilt whole when it is new or gone, when its deadline passed since, when its
    registries changed (its rounds.csv row, scope, or units in scope), or when more than UNIT_LIMIT of its
    units changed; otherwise only its units with a new, changed, removed or newly
    rejected file (and its files without a unit, e.g. a misnamed one) are rebuilt.
    """
    pending, built = _rounds_of(pending_parts), _rounds_of(built_parts)
    rounds = _differing_rounds(pending, built)
    if not rounds:  # None (every round) or nothing changed
        return RebuildScope(rounds)
    same_state = [
        r for r in rounds if r in pending and r in built and _round_state(pending[r]) == _round_state(built[r])
    ]
    changed = _changed_units(con, same_state) if same_state else {}
    units = {r: changed[r] for r in same_state if r in changed and len(changed[r]) <= UNIT_LIMIT}
    return RebuildScope([r for r in rounds if r not in units], units)


def _built_files_kept(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            "and schema_name = 'raw' and table_name = 'built_landing_files'"
        ).fetchone()[0]
    )


def _differing(rounds: bool) -> str:
    """SQL: the landing zone's files (now) against the last successful build's (was), one row per path
    that differs (new, gone, or another version, rejection or round), with its round and unit; with
    `rounds`, of the rounds in $rounds only."""
    where = "where list_contains($rounds, round_id)" if rounds else ""
    now, was = (", ".join(f"{alias}.{c}" for c in _KEPT) for alias in ("now", "was"))
    return f"""
        select coalesce(now.round_id, was.round_id) as round_id, coalesce(now.unit_code, was.unit_code) as unit_code,
               coalesce(now.path, was.path) as path
        from (select {_BUILT_COLUMNS} from raw.landing_files {where}) as now
        full join (select {_BUILT_COLUMNS} from raw.built_landing_files {where}) as was on was.path = now.path
        where row({now}) is distinct from row({was})"""


def _changed_units(con: duckdb.DuckDBPyConnection, rounds: list[str]) -> dict[str, list[str]]:
    """round -> its units whose files differ from the last successful build's (a round with only files
    without a unit: []); rounds without a difference are left out, as is everything when the last build's
    list of files is not kept (a warehouse built before it was)."""
    if not _built_files_kept(con):
        return {}
    rows = con.execute(
        f"""select round_id, list(distinct unit_code order by unit_code) filter (where unit_code is not null)
            from ({_differing(rounds=True)}) group by round_id""",
        {"rounds": rounds},
    ).fetchall()
    return {r: units or [] for r, units in rows}


def keep_built_files(con: duckdb.DuckDBPyConnection) -> None:
    """Keep the landing zone's list of files as that of the last successful build (the next one compares):
    the rows of the paths that differ are written again."""
    if not _built_files_kept(con):
        con.execute(f"create table raw.built_landing_files as select {_BUILT_COLUMNS} from raw.landing_files")
        return
    con.execute(f"create or replace temp table _differing_paths as select path from ({_differing(rounds=False)})")
    con.execute("delete from raw.built_landing_files where path in (select path from _differing_paths)")
    con.execute(
        f"insert into raw.built_landing_files select {_BUILT_COLUMNS} from raw.landing_files "
        "where path in (select path from _differing_paths)"
    )
    con.execute("drop table _differing_paths")
