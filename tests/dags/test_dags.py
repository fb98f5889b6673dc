"""DAG integrity and dag.test() of ingest then build, against a real Airflow metadata DB."""

from __future__ import annotations

import shutil

from landing_builder import Landing, run_pipeline, warehouse_snapshot

from reformwatch.config import SAMPLE_LANDING


def test_dagbag_imports_and_writers_are_pooled(airflow_home):
    info = airflow_home.probe("integrity")
    assert info["import_errors"] == {}
    tasks = {(t["dag"], t["task"]): t for t in info["tasks"]}
    assert {"reformwatch_ingest", "reformwatch_build"} <= {d for d, _ in tasks}
    writers = [("reformwatch_ingest", "ingest"), ("reformwatch_build", "build")]
    for key in writers:
        assert tasks[key]["pool"] == "reformwatch_duckdb"
    assert any("reformwatch_warehouse" in o for o in tasks[("reformwatch_ingest", "announce")]["outlets"])
    assert "Asset" in tasks[("reformwatch_build", "build")]["schedule"]


def test_dag_test_ingest_then_build_equals_cli(airflow_home, tmp_path):
    land = Landing(tmp_path / "landing").good_round(skip=("CCC",))
    land.progress("CCC", service_items_online=500)  # rejected: online > total
    land.exam("CCC")
    shutil.copytree(SAMPLE_LANDING / "2018-R1", land.root / "2018-R1-copy", dirs_exist_ok=True)  # not a round
    wh = tmp_path / "airflow" / "warehouse.duckdb"
    env = {"REFORMWATCH_LANDING": str(land.root), "REFORMWATCH_WAREHOUSE": str(wh)}
    as_of = "2024-07-15T00:00:00+08:00"

    first = airflow_home.probe("test", "reformwatch_ingest", as_of, **env)
    assert first["state"] == "success" and first["tis"]["announce"] == "success"
    events = first["events"]
    built = airflow_home.probe("test", "reformwatch_build", as_of, **env)
    assert built["state"] == "success" and built["tis"]["build"] == "success"

    cli = run_pipeline(land.root, tmp_path / "cli" / "warehouse.duckdb", as_of=as_of)
    cli.close()
    assert warehouse_snapshot(wh) == warehouse_snapshot(tmp_path / "cli" / "warehouse.duckdb")
    assert len(warehouse_snapshot(wh)["dq.issues"]) > 1

    again = airflow_home.probe("test", "reformwatch_ingest", as_of, **env)
    assert again["tis"]["anything_new"] == "success" and again["tis"]["announce"] == "skipped"
    assert again["events"] == events  # no new asset event: nothing downstream runs


def test_build_dag_publishes_when_the_newest_round_has_no_files(own_airflow_home, tmp_path):
    """The office announced a round (rounds.csv and its scope.csv) before any unit sent anything: the
    build DAG succeeds and publishes; the new round has its round rows and no unit rows."""
    land = Landing(tmp_path / "landing").good_round()
    with open(land.root / "rounds.csv", "a", encoding="utf-8") as f:
        f.write("2024-R2,第二轮,2024-12-31T18:00:00+08:00,45,100,30,60,90\n")
    (land.root / "2024-R2").mkdir()
    shutil.copy(land.root / "2024-R1" / "scope.csv", land.root / "2024-R2" / "scope.csv")
    wh = tmp_path / "airflow" / "warehouse.duckdb"
    env = {"REFORMWATCH_LANDING": str(land.root), "REFORMWATCH_WAREHOUSE": str(wh)}
    as_of = "2024-07-15T00:00:00+08:00"
    ingested = own_airflow_home.probe("test", "reformwatch_ingest", as_of, **env)
    assert ingested["state"] == "success", ingested
    built = own_airflow_home.probe("test", "reformwatch_build", as_of, **env)
    assert built["state"] == "success" and built["tis"]["build"] == "success"
    snapshot = warehouse_snapshot(wh)
    assert [r["round_id"] for r in snapshot["marts.exam_round"]] == ["2024-R1", "2024-R2"]
    assert [r["units_reported"] for r in snapshot["marts.reform_round"]] == [3, 0]
    assert {r["round_id"] for r in snapshot["marts.exam_unit_round"]} == {"2024-R1"}
