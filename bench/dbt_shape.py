"""dbt's own floor for reformwatch's project: the same graph with nothing to compute.

A project is written with one node for each of reformwatch's models, seeds and data tests, with the
same dependencies and materializations, but every model is `select 1 as x`, every seed one row and
every test a query on its model that finds nothing. Building it measures what dbt costs for a
project of this shape on this machine (its start, its parse, and its own work per node on two
threads), which no change to reformwatch's SQL can go below.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DBT = Path(sys.executable).parent / "dbt"


def _dbt(args: list[str], project: Path, env: dict[str, str] | None = None) -> float:
    """Run a dbt command in `project` (with the profile in that folder), `env` added to this process's
    environment; its wall seconds."""
    t = time.perf_counter()
    subprocess.run(
        [str(DBT), *args, "--project-dir", str(project), "--profiles-dir", str(project), "--quiet"]
        + ["--log-level-file", "info"],  # as the pipeline's dbt log
        check=True,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})},
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


def real_graph(folder: Path) -> dict:
    """reformwatch's parsed project (dbt's manifest.json), parsed into `folder`."""
    args = ["parse", "--target-path", str(folder / "target"), "--log-path", str(folder / "logs")]
    _dbt(args, ROOT / "dbt_project", {"REFORMWATCH_WORK_DB": str(folder / "parse.duckdb")})
    return json.loads((folder / "target" / "manifest.json").read_text(encoding="utf-8"))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)[:80]


def write_shape(manifest: dict, project: Path) -> dict[str, int]:
    """Write the trivial project of the same graph into `project`; the number of nodes of each kind."""
    nodes = manifest["nodes"]
    names = {uid: _safe(n["name"]) for uid, n in nodes.items() if n["resource_type"] in ("model", "seed")}
    for sub in ("models", "seeds", "tests"):
        (project / sub).mkdir(parents=True)
    counts = {"model": 0, "seed": 0, "test": 0}
    for uid, node in nodes.items():
        kind = node["resource_type"]
        if kind not in counts:
            continue
        counts[kind] += 1
        parents = [names[p] for p in node.get("depends_on", {}).get("nodes", []) if p in names]
        refs = "".join(f"-- depends_on: {{{{ ref('{p}') }}}}\n" for p in parents)
        if kind == "seed":
            (project / "seeds" / f"{names[uid]}.csv").write_text("x\n1\n", encoding="utf-8")
        elif kind == "model":
            materialized = "view" if node["config"]["materialized"] == "view" else "table"
            sql = f"{{{{ config(materialized='{materialized}') }}}}\n{refs}select 1 as x\n"
            (project / "models" / f"{names[uid]}.sql").write_text(sql, encoding="utf-8")
        else:
            on = parents[0] if parents else None
            sql = f"select x from {{{{ ref('{on}') }}}} where x is null\n" if on else "select 1 where false\n"
            sql = f"{refs}{sql}"
            (project / "tests" / f"{_safe(node['name'])}.sql").write_text(sql, encoding="utf-8")
    (project / "dbt_project.yml").write_text(
        "name: shape\nversion: '1.0.0'\nconfig-version: 2\nprofile: shape\n", encoding="utf-8"
    )
    (project / "profiles.yml").write_text(
        "shape:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {json.dumps(str(project / 'shape.duckdb'))}\n      threads: 2\n",
        encoding="utf-8",
    )
    return counts


def _run_results(project: Path) -> tuple[int, float]:
    """The nodes the last build ran and the seconds it spent running them (run_results.json)."""
    results = json.loads((project / "target" / "run_results.json").read_text(encoding="utf-8"))
    return len(results["results"]), results["elapsed_time"]


def measure(folder: Path, runs: int = 2) -> dict:
    """Build the trivial project of reformwatch's graph (once to parse, then `runs` times); the fastest.

    Returns the node counts, the command's wall seconds (`wall`) and the seconds dbt spent running the
    nodes (`nodes`).
    """
    project = folder / "shape"
    counts = write_shape(real_graph(folder / "real"), project)
    _dbt(["build"], project)  # parses and creates everything once
    walls, nodes = [], []
    for _ in range(max(1, runs)):
        walls.append(_dbt(["build"], project))
        nodes.append(_run_results(project)[1])
    return {
        **counts,
        "wall": min(walls),
        "nodes": min(nodes),
    }


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rw-dbt-shape-") as tmp:
        print(measure(Path(tmp)))
