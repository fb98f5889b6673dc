"""Runs inside a subprocess with its own AIRFLOW_HOME (Airflow reads its config at import).

usage: airflow_probe.py integrity            -> JSON: import errors, tasks with pool and outlets
       airflow_probe.py test DAG_ID [AS_OF]  -> JSON: run state, task states, asset events so far
"""

from __future__ import annotations

import json
import os
import sys

from airflow.dag_processing.dagbag import DagBag


def main() -> None:
    bag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if sys.argv[1] == "integrity":
        out = {
            "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
            "tasks": [
                {
                    "dag": d.dag_id,
                    "task": t.task_id,
                    "pool": t.pool,
                    "outlets": [str(o) for o in t.outlets],
                    "schedule": type(d.timetable).__name__,
                }
                for d in bag.dags.values()
                for t in d.tasks
            ],
        }
    else:
        dag = bag.dags[sys.argv[2]]
        conf = {"as_of": sys.argv[3]} if len(sys.argv) > 3 else None
        dr = dag.test(run_conf=conf)
        from airflow.models.asset import AssetEvent
        from airflow.utils.session import create_session

        with create_session() as s:
            events = s.query(AssetEvent).count()
        out = {
            "state": str(dr.state),
            "tis": {ti.task_id: str(ti.state) for ti in dr.get_task_instances()},
            "events": events,
        }
    print("PROBE " + json.dumps(out))


if __name__ == "__main__":
    main()
