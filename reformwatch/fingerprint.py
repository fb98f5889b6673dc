"""A digest of the code that shapes the warehouse: a new version of it rebuilds everything."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from .config import DBT_PROJECT_DIR, PROJECT_ROOT

PACKAGE_DIR = Path(__file__).parent


@functools.cache
def code_fingerprint() -> str:
    """A digest of the dbt project (dbt_project.yml, models, macros, seeds) and the package's Python
    modules (how files are read, registries validated, SQL functions defined)."""
    files = [DBT_PROJECT_DIR / "dbt_project.yml", *sorted(PACKAGE_DIR.glob("*.py"))]
    for folder in ("models", "macros", "seeds"):
        files += sorted(p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(PROJECT_ROOT)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()
