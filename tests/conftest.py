import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from landing_builder import Landing  # noqa: E402


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    """An empty landing zone with three units in scope of one round."""
    return Landing(tmp_path / "landing")


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "wh" / "warehouse.duckdb"


SLOW_FOLDERS = {"e2e", "reliability", "dags", "scale"}  # whole pipelines, Airflow, fuzzing, national scale


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test-fast` leaves out the tests marked slow: these folders, and single tests marked so."""
    for item in items:
        if Path(str(item.path)).parent.name in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)
