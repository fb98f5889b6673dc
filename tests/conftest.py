import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from landing_builder import Landing  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runs of this test session share one cache folder of their own (dbt's parsed project), as the
    runs of one user do, and leave the user's cache alone."""
    path = tmp_path_factory.mktemp("cache")
    os.environ["REFORMWATCH_CACHE_DIR"] = str(path)
    return path


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    """An empty landing zone with three units in scope of one round."""
    return Landing(tmp_path / "landing")


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "wh" / "warehouse.duckdb"
