"""All settings in one place, read from the environment with defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = Path(os.environ.get("REFORMWATCH_EXPECTATIONS_DIR", PROJECT_ROOT / "expectations"))
SAMPLE_LANDING = PROJECT_ROOT / "data" / "samples" / "bulletin36"
DEFAULT_WAREHOUSE = PROJECT_ROOT / "data" / "warehouse.duckdb"

LOCAL_TZ = "Asia/Shanghai"  # the contract's zone for timestamps without an offset


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


def connect_quietly(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for the pipeline that draws no progress bar: DuckDB draws one on standard
    output for a query over 2 s, even into a log file or a pipe, in the middle of the run's lines."""
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("set enable_progress_bar = false")
    return con


def connect_work_db(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the work database with DuckDB's memory capped at REFORMWATCH_DUCKDB_MEMORY (default 2GB;
    beyond it DuckDB spills to disk). dbt's profile reads the same variable."""
    con = connect_quietly(path, read_only=read_only)
    con.execute(f"set memory_limit = '{os.environ.get('REFORMWATCH_DUCKDB_MEMORY', '2GB')}'")
    return con


def published_storage_version() -> str:
    """The DuckDB storage format of the published files ($REFORMWATCH_STORAGE_VERSION, default v1.2.0):
    analysts' clients read a file of their version's format or older, and DuckDB 1.x clients (the CLI,
    DBeaver's and R's drivers) cannot open DuckDB 2.0's own format."""
    return os.environ.get("REFORMWATCH_STORAGE_VERSION", "v1.2.0").strip()


@dataclass(frozen=True)
class Settings:
    """Where things live and the run's tunables."""

    landing: Path = field(default_factory=lambda: _env_path("REFORMWATCH_LANDING", SAMPLE_LANDING))
    warehouse: Path = field(default_factory=lambda: _env_path("REFORMWATCH_WAREHOUSE", DEFAULT_WAREHOUSE))
    max_file_bytes: int = field(
        default_factory=lambda: int(os.environ.get("REFORMWATCH_MAX_FILE_MB", "200")) * 1024 * 1024
    )
    lock_timeout_s: float = field(default_factory=lambda: float(os.environ.get("REFORMWATCH_LOCK_TIMEOUT", "600")))

    @property
    def work_dir(self) -> Path:
        """The pipeline's own folder beside the warehouse: work database, dbt artifacts, logs."""
        return self.warehouse.with_name(self.warehouse.name + ".work")

    @property
    def work_db(self) -> Path:
        """The pipeline's database (raw history, staging, marts); analysts use the published file."""
        return self.work_dir / "work.duckdb"

    @property
    def lock_file(self) -> Path:
        return self.warehouse.with_name(self.warehouse.name + ".lock")

    @property
    def analyst_warehouse(self) -> Path:
        """The analysts' copy: marts and data-quality tables without any individual's data."""
        return self.warehouse.with_name(self.warehouse.stem + ".analyst.duckdb")

    @property
    def data_docs_dir(self) -> Path:
        """Great Expectations Data Docs (HTML), next to the warehouse."""
        return self.warehouse.with_name(self.warehouse.stem + "_data_docs")

    @property
    def reports_dir(self) -> Path:
        """Bulletins: $REFORMWATCH_REPORTS, else reports/ in the project for the default warehouse,
        else a reports/ folder beside the warehouse."""
        if os.environ.get("REFORMWATCH_REPORTS"):
            return Path(os.environ["REFORMWATCH_REPORTS"]).expanduser()
        if self.warehouse.resolve() == DEFAULT_WAREHOUSE.resolve():
            return PROJECT_ROOT / "reports"
        return self.warehouse.parent / "reports"

    @property
    def gx_dir(self) -> Path:
        return self.work_dir / "gx"
