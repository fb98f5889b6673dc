"""dbt's own tests (unit_tests in the _*__models.yml files) and the data dictionary's completeness."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import duckdb
import pytest
from landing_builder import rows, run_pipeline

from reformwatch import dbt_runner
from reformwatch.config import SAMPLE_LANDING, Settings
from reformwatch.dbt_runner import DbtError, run_dbt
from reformwatch.dbt_worker import DbtWorker


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    wh = tmp_path_factory.mktemp("dbt") / "warehouse.duckdb"
    con = run_pipeline(SAMPLE_LANDING, wh)
    settings = Settings(landing=SAMPLE_LANDING, warehouse=wh)
    run_dbt(["parse"], settings.work_db, settings.work_dir)  # the pipeline writes no manifest.json
    yield settings, con
    con.close()


def test_data_tests_of_incremental_models_check_the_rows_the_build_added(built):
    """The row-level tests of the incremental models filter on the running build's invocation id.

    The pipeline's build wrote its id on every row; each later dbt invocation (partial parsing keeps
    the parsed project) must filter on its own id, not on the id of the invocation that parsed it.
    """
    settings, con = built
    work = duckdb.connect(str(settings.work_db), read_only=True)
    try:
        ids = work.execute("select distinct dbt_invocation_id from intermediate.int_exam__file_stats").fetchall()
    finally:
        work.close()
    assert len(ids) == 1
    target = settings.work_dir / "dbt_target"

    def compiled_filter() -> tuple[str, str]:
        results = json.loads((target / "run_results.json").read_text())
        sql = [
            r["compiled_code"]
            for r in results["results"]
            if r["unique_id"].startswith("test.reformwatch.unique_combination_int_exam__file_stats_")
        ]
        assert len(sql) == 1
        return results["metadata"]["invocation_id"], sql[0]

    run_dbt(["test", "--select", "int_exam__file_stats"], settings.work_db, settings.work_dir)
    first, sql = compiled_filter()
    assert first != ids[0][0] and f"where dbt_invocation_id = '{first}'" in sql
    run_dbt(["test", "--select", "int_exam__file_stats"], settings.work_db, settings.work_dir)
    second, sql = compiled_filter()
    assert second != first and f"where dbt_invocation_id = '{second}'" in sql


@pytest.mark.parametrize("child", ["works", "dies"])
def test_dbt_in_the_worker_process_equals_dbt_in_this_one(built, tmp_path, child, caplog):
    """The worker parses ahead and builds with that manifest; a dead worker falls back to this process."""
    settings, _ = built
    args = ["test", "--select", "int_exam__file_stats stg_landing__files"]
    here = run_dbt(args, settings.work_db, settings.work_dir)
    command = None if child == "works" else [sys.executable, "-c", "raise SystemExit(3)"]
    said: list[tuple[int, int]] = []  # (nodes finished, nodes selected), as they finish
    with DbtWorker(settings.work_db, settings.work_dir, command) as worker:
        there = worker.run(args, progress=lambda *p: said.append(p))
    assert here.nodes >= 3 and there == here
    assert ("dbt worker failed" in caplog.text) == (child == "dies")
    assert said == [(i, here.nodes) for i in range(1, here.nodes + 1)]


def test_a_failing_node_in_the_worker_is_named_in_the_error(built, tmp_path):
    settings, _ = built
    db = tmp_path / "work.duckdb"
    shutil.copy(settings.work_db, db)
    con = duckdb.connect(str(db))
    con.execute("insert into marts.exam_round select * from marts.exam_round")
    con.close()
    with DbtWorker(db, tmp_path / "work") as worker, pytest.raises(DbtError, match="unique_exam_round_round_id"):
        worker.run(["test", "--select", "exam_round"])


def test_a_run_with_nothing_to_build_stops_the_worker(built, tmp_path):
    settings, _ = built
    with DbtWorker(settings.work_db, tmp_path / "work") as worker:
        proc = worker._proc
    assert proc.poll() is not None


def test_dbt_unit_tests_pass(built):
    settings, _ = built
    res = run_dbt(["test", "--select", "test_type:unit"], settings.work_db, settings.work_dir)
    assert res.nodes >= 6 and res.failures == []


def test_a_wrong_definition_fails_the_unit_tests(built, tmp_path, monkeypatch):
    """The unit tests can fail: a copy of the project with pass = score > pass_mark is caught."""

    settings, _ = built
    project = tmp_path / "dbt_project"
    shutil.copytree(dbt_runner.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "intermediate" / "int_exam__file_stats.sql"
    assert "score >= pass_mark" in model.read_text()
    model.write_text(model.read_text().replace("score >= pass_mark", "score > pass_mark"))
    monkeypatch.setattr(dbt_runner, "DBT_PROJECT_DIR", project)
    with pytest.raises(DbtError, match="exam_sheet_stats_thresholds"):
        run_dbt(["test", "--select", "test_type:unit"], settings.work_db, tmp_path / "work")


def test_every_mart_and_dq_column_is_described(built):
    settings, con = built
    manifest = json.loads((settings.work_dir / "dbt_target" / "manifest.json").read_text())
    models = {
        n["name"]: n
        for n in manifest["nodes"].values()
        if n["resource_type"] in ("model", "seed") and n["schema"] in ("marts", "dq")
    }
    assert {
        "reform_unit_round",
        "reform_round",
        "exam_unit_round",
        "exam_level_round",
        "exam_round",
        "issues",
        "checks",
    } <= set(models)
    for name, node in models.items():
        assert node["description"].strip(), f"{name} has no description"
        actual = [
            r["column_name"]
            for r in rows(
                con,
                "select column_name from duckdb_columns() where schema_name = ? and table_name = ?",
                [node["schema"], name],
            )
        ]
        assert actual, name
        for col in actual:
            assert col in node["columns"] and node["columns"][col]["description"].strip(), f"{name}.{col}"


def test_models_of_one_kind_never_read_the_other_kind(built):
    """The pipeline skips the models tagged exam (or progress) when no exam (progress) file changed: safe
    only if no such model reads, directly or not, a model of the other kind. Names and tags agree."""
    settings, _con = built
    manifest = json.loads((settings.work_dir / "dbt_target" / "manifest.json").read_text())
    models = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    prefixes = {
        "exam": ("stg_landing__exam_", "int_exam__", "exam_"),
        "progress": ("stg_landing__progress_", "int_progress__", "reform_"),
    }

    def kind(node: dict) -> str | None:
        tags = [t for t in node["tags"] if t in prefixes]
        assert len(tags) <= 1, node["name"]
        return tags[0] if tags else None

    def ancestors(key: str) -> set[str]:
        seen, todo = set(), [key]
        while todo:
            for parent in manifest["nodes"].get(todo.pop(), {}).get("depends_on", {}).get("nodes", []):
                if parent in models and parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    tagged = {k: kind(n) for k, n in models.items()}
    assert {t for t in tagged.values() if t} == {"exam", "progress"}
    for key, node in models.items():
        named = next((k for k, p in prefixes.items() if node["name"].startswith(p)), None)
        assert tagged[key] == named, f"{node['name']}: tag {tagged[key]}, name says {named}"
        if named:
            others = {models[a]["name"] for a in ancestors(key) if tagged[a] not in (None, named)}
            assert not others, f"{node['name']} ({named}) reads {sorted(others)}"


def test_a_parsed_project_is_kept_until_a_project_file_changes(built, tmp_path, monkeypatch):
    """Any warehouse folder loads the kept parse while nothing it depends on changed; a changed project,
    dbt flag or environment variable a model reads is parsed again."""
    from dbt.cli.main import dbtRunner

    settings, _ = built
    monkeypatch.setenv("REFORMWATCH_CACHE_DIR", str(tmp_path / "cache"))
    project = tmp_path / "dbt_project"
    shutil.copytree(dbt_runner.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "models" / "marts" / "parse_env.sql").write_text(
        'select \'{{ env_var("RW_TEST_PARSE_VAR", "a") }}\' as v\n'
    )
    monkeypatch.setattr(dbt_runner, "DBT_PROJECT_DIR", project)
    invocations: list[list[str]] = []
    real_invoke = dbtRunner.invoke

    def counted(self, args, **kw):
        if args[0] == "parse":
            invocations.append(args)
        return real_invoke(self, args, **kw)

    monkeypatch.setattr(dbtRunner, "invoke", counted)
    work = tmp_path / "work"
    model = "model.reformwatch.exam_round"
    first = dbt_runner.parse_project(settings.work_db, work)
    elsewhere = tmp_path / "another" / "warehouse.duckdb.work"  # a new warehouse folder: a first run
    again = dbt_runner.parse_project(elsewhere / settings.work_db.name, elsewhere)
    assert len(invocations) == 1 and again.nodes[model].raw_code == first.nodes[model].raw_code
    compiled = run_dbt(
        ["compile", "--select", "stg_landing__rounds", "exam_round"], settings.work_db, work, manifest=again
    )
    assert compiled.nodes >= 1 and compiled.failures == []  # refs and sources resolve in the loaded project
    sql = project / "models" / "marts" / "exam_round.sql"
    sql.write_text(sql.read_text() + "\n-- changed\n")
    changed = dbt_runner.parse_project(settings.work_db, work)
    assert len(invocations) == 2 and changed.nodes[model].raw_code.endswith("-- changed")
    monkeypatch.setenv("DBT_STATIC_PARSER", "false")  # dbt's flags are part of the key
    dbt_runner.parse_project(settings.work_db, work)
    assert len(invocations) == 3
    monkeypatch.setenv("RW_TEST_PARSE_VAR", "b")  # a variable a model read while parsing
    dbt_runner.parse_project(settings.work_db, work)
    assert len(invocations) == 4
    monkeypatch.setenv("REFORMWATCH_DUCKDB_MEMORY", "1GB")  # read by the profile only, at run time
    dbt_runner.parse_project(settings.work_db, work)
    assert len(invocations) == 4


def test_the_worker_compiles_the_macros_the_last_build_used(built, tmp_path):
    """A build keeps the list of macros it compiled; warm_up compiles them in a fresh process's cache."""
    from dbt_common.clients.jinja import template_cache

    settings, _ = built
    kept = json.loads(dbt_runner.warm_macros_file(settings.work_db).read_text())
    used = {"macro.dbt_duckdb.materialization_incremental_duckdb", "macro.dbt.materialization_test_default"}
    assert used <= set(kept)
    manifest = dbt_runner.parse_project(settings.work_db, settings.work_dir)
    template_cache.clear()
    assert dbt_runner.warm_up(manifest, settings.work_db) == len(kept)
    assert {manifest.macros[uid].macro_sql for uid in kept} <= set(template_cache.file_cache)
    assert dbt_runner.warm_up(manifest, tmp_path / "never_built.duckdb") == 0


def test_the_worker_builds_the_json_schemas_a_build_validates_with(built, tmp_path):
    """In a fresh process: after warm_up, a build (the pipeline's incremental one) builds no JSON schema of
    its own; a stale VALIDATED_CLASSES (a class dbt no longer validates, or one it started to) fails this.
    The first process builds the schemas and compiles the macros, and keeps both; the next one builds and
    compiles none, and uses what was kept, equal to what dbt builds and Jinja compiles; its build passes.
    Nor does the build have inspect map the files of modules loaded before it
    (dbt-duckdb's behaviour flags call inspect.stack())."""
    settings, _ = built
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(settings.work_db, work / settings.work_db.name)
    code = textwrap.dedent(
        f"""
        import importlib, inspect, json, sys
        from pathlib import Path
        from dbt_common import dataclass_schema
        from reformwatch import dbt_runner
        from reformwatch.pipeline import dbt_build_args
        built, real = [], dataclass_schema.build_json_schema
        def recording(cls, *a, **kw):
            built.append(cls.__module__ + "." + cls.__qualname__)
            return real(cls, *a, **kw)
        dataclass_schema.build_json_schema = recording
        dbt_runner._schemas_file = lambda: Path({str(tmp_path / "schemas.pickle")!r})
        dbt_runner._jinja_code_file = lambda: Path({str(tmp_path / "jinja.marshal")!r})
        from dbt_common.clients.jinja import MacroFuzzEnvironment, get_environment
        compiled, compile = [], MacroFuzzEnvironment.compile
        def counting(self, source, *a, **kw):
            compiled.append(source)
            return compile(self, source, *a, **kw)
        MacroFuzzEnvironment.compile = counting
        work = Path({str(work)!r})
        db = work / {settings.work_db.name!r}
        manifest = dbt_runner.parse_project(db, work)
        built.clear()
        macros = dbt_runner.warm_up(manifest, db)
        warm, built[:], compiled_warm = list(built), [], len(compiled)
        mapped, loaded = len(inspect.modulesbyfile), len(sys.modules)
        args = dbt_build_args(full_refresh=False)
        dbt_runner.run_dbt(args, db, work, env={{"REFORMWATCH_AS_OF": "2030-01-01T00:00:00+00:00"}}, manifest=manifest)
        mapped = len(inspect.modulesbyfile) - mapped  # a module's file: up to two keys (as named, real path)
        during, classes = list(built), []
        for name in dbt_runner.VALIDATED_CLASSES:
            module, _, cls = name.rpartition(".")
            classes.append(getattr(importlib.import_module(module), cls))
        same = all(c.json_schema() == real(c).to_dict() for c in classes)
        import marshal
        kept = marshal.loads(Path({str(tmp_path / "jinja.marshal")!r}).read_bytes())
        def key(m):
            return dbt_runner.hashlib.sha256(m.macro_sql.encode()).hexdigest()
        warmed = [m for m in manifest.macros.values() if key(m) in kept]
        same_code = 0 < len(kept) <= macros and all(kept[key(m)] == compile(get_environment(m), m.macro_sql)
                                                    for m in warmed)
        print(json.dumps([warm, during, mapped, len(sys.modules) - loaded, same, compiled_warm, macros, same_code]))
        """
    )

    def fresh_process() -> list:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    warm, during_build, mapped, imported, same, compiled, macros, same_code = fresh_process()
    assert sorted(warm) == sorted(dbt_runner.VALIDATED_CLASSES) and (tmp_path / "schemas.pickle").is_file()
    assert during_build == [] and same
    assert mapped <= 2 * imported  # only modules the build imported itself (without warm_up: over 1,000)
    assert macros > 50 and compiled == macros and same_code  # compiled, and kept
    warm, during_build, _, _, same, compiled, macros, same_code = fresh_process()
    assert warm == [] and during_build == [] and same  # the kept schemas, equal to dbt's
    assert compiled < macros and same_code  # only macros new to the list (the last build used them) compiled
    warm, during_build, _, _, same, compiled, again, same_code = fresh_process()
    assert warm == [] and during_build == [] and same
    assert again == macros and compiled == 0 and same_code  # the kept code, equal to what Jinja compiles


def test_the_worker_leaves_the_folder_the_run_started_in_off_its_path(tmp_path, monkeypatch):
    """dbt lists every subfolder of each sys.path folder per invocation; a run started in a landing zone
    would pay for listing it. The source tree stays when this package is imported from there."""
    from reformwatch.child_worker import leave_start_folder
    from reformwatch.config import PROJECT_ROOT

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    leave_start_folder()
    assert str(tmp_path) not in sys.path

    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setattr(sys, "path", [str(PROJECT_ROOT), *sys.path])
    leave_start_folder()
    assert sys.path[0] == str(PROJECT_ROOT)


def test_a_worker_loads_without_the_cycle_collector_then_freezes_what_it_loaded():
    import gc

    from reformwatch.child_worker import no_gc_while_loading

    frozen = gc.get_freeze_count()
    try:
        with no_gc_while_loading():
            assert not gc.isenabled()
            loaded = [[n] for n in range(1000)]  # lists: objects the collector tracks
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(loaded)
        gc.unfreeze()
        with no_gc_while_loading(freeze=False):  # the pipeline's ingest: nothing frozen
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() == 0
        gc.disable()
        with no_gc_while_loading(freeze=False):
            pass
        assert not gc.isenabled()  # left as it was
    finally:
        gc.unfreeze()
        gc.enable()
