"""Scan a landing zone without reading file contents: names, versions, sizes, file-level rejections."""

from __future__ import annotations

import logging
import os
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .contract import KINDS, parse_file_name
from .registry import Registry

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LandingFile:
    """One file found in a round's progress/ or exam/ folder."""

    path: str  # relative to the landing root, '/' separators
    round_id: str
    kind: str
    unit_code: str | None
    version: int | None
    ext: str | None
    size: int
    mtime_ns: int
    check_name: str | None = None  # set when the file is rejected before it is read
    detail: str | None = None

    def reject(self, check_name: str, detail: str) -> None:
        self.check_name, self.detail = check_name, detail

    @property
    def readable(self) -> bool:
        return self.check_name is None


def _entry(root: Path, round_id: str, kind: str, entry: os.DirEntry) -> LandingFile:
    rel = f"{round_id}/{kind}/{entry.name}"
    st = entry.stat(follow_symlinks=False)
    if stat.S_ISREG(st.st_mode):  # the common case: a regular file with a valid name
        parsed = parse_file_name(entry.name)
        if parsed is not None:
            return LandingFile(rel, round_id, kind, *parsed, st.st_size, st.st_mtime_ns)
    f = LandingFile(rel, round_id, kind, None, None, None, st.st_size, st.st_mtime_ns)
    if stat.S_ISLNK(st.st_mode):
        target = Path(os.path.realpath(entry.path))
        if not target.is_relative_to(root) or not target.is_file():
            f.reject(
                "unreadable_file",
                f"{rel} is a link to something outside the landing zone and was not read; "
                "put the file itself in the folder",
            )
            return f
        st = target.stat()
        f.size, f.mtime_ns = st.st_size, st.st_mtime_ns
    elif not stat.S_ISREG(st.st_mode):
        f.reject(
            "unreadable_file",
            f"{rel} is not a regular file (a folder or device) and was not read; "
            f"put submissions directly in {round_id}/{kind}/",
        )
        return f
    parsed = parse_file_name(entry.name)
    if parsed is None:
        f.reject(
            "unreadable_file",
            f"file name {entry.name!r} in {round_id}/{kind}/ does not follow the rule "
            "UNITCODE.csv, UNITCODE.xlsx or UNITCODE__v2.csv (capital letters, digits and _ only, "
            "lower-case extension); rename it, e.g. POLICE.csv",
        )
        return f
    f.unit_code, f.version, f.ext = parsed
    return f


def scan(landing: Path, registry: Registry, max_file_bytes: int) -> list[LandingFile]:
    """List every submission file of every round folder, applying the name-level checks in order."""
    root = landing.resolve()
    files: list[LandingFile] = []
    known_rounds = set(registry.rounds)
    with os.scandir(root) as it:
        round_dirs = sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    for round_id in round_dirs:
        for kind in KINDS:
            folder = root / round_id / kind
            if folder.is_symlink() or not folder.is_dir():
                continue
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
            round_known = round_id in known_rounds
            in_scope = registry.scope.get(round_id, ())
            for entry in entries:
                f = _entry(root, round_id, kind, entry)
                if f.check_name is None and f.unit_code in in_scope:  # registered and in scope: fine
                    files.append(f)
                    continue
                if f.readable and not round_known:
                    f.reject(
                        "unknown_unit",
                        f"{f.path}: folder {round_id}/ is not a round listed in rounds.csv, so no unit is in "
                        "its scope; the file was not read. Move it to its round's folder, or ask the office "
                        "to add the round",
                    )
                elif f.readable and f.unit_code not in registry.units:
                    f.reject(
                        "unknown_unit",
                        f"{f.path}: unit code {f.unit_code} is not in units.csv; the file was not read. "
                        "Check the code in the file name against the office's unit list",
                    )
                elif f.readable and f.unit_code not in in_scope:
                    f.reject(
                        "unknown_unit",
                        f"{f.path}: unit {f.unit_code} ({registry.units[f.unit_code]}) is not in scope.csv "
                        f"of round {round_id}; the file was not read. Check the round folder, "
                        "or ask the office to add the unit to the round",
                    )
                files.append(f)
    same_version = Counter((f.round_id, f.kind, f.unit_code, f.version) for f in files if f.readable)
    for f in files:
        if f.readable and same_version[(f.round_id, f.kind, f.unit_code, f.version)] > 1:
            f.reject(
                "unreadable_file",
                f"{f.path}: ambiguous version: another file in {f.round_id}/{f.kind}/ is also version "
                f"{f.version} of {f.unit_code} (e.g. both .csv and .xlsx); neither is used. "
                "Keep one of them, or send the correction as the next version (__v2, __v3, ...)",
            )
        elif f.readable and f.size > max_file_bytes:
            f.reject(
                "unreadable_file",
                f"{f.path}: the file is {f.size / 1e6:.0f} MB, over the {max_file_bytes / 1e6:.0f} MB limit, "
                "and was not read; a submission is a few kB: send only the template's sheet",
            )
    log.info("scanned %s: %d submission files in %d round folders", landing, len(files), len(round_dirs))
    return files
