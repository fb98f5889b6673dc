"""Run dbt in-process on the work database."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
import logging
import marshal
import os
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .child_worker import write_replacing
from .config import DBT_PROJECT_DIR, cache_dir

log = logging.getLogger(__name__)


class DbtError(Exception):
    """dbt could not build the models; the message names the failed nodes."""


def _release_duckdb() -> None:
    """dbt-duckdb keeps its DuckDB instance open in-process; close it so the file can be reopened."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if env is not None:
        try:
            env.close()
        except Exception:  # closing is best effort; the instance is released with the object
            log.debug("closing dbt-duckdb's environment failed", exc_info=True)


@dataclass
class DbtResult:
    nodes: int
    failures: list[str]
    warnings: list[str]


def _dbt_args(args: list[str], work_dir: Path, target: str = "dbt_target") -> list[str]:
    return [
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work_dir / target),
        "--log-path",
        str(work_dir / "logs"),
        # info: a line per node with its outcome and time; debug adds every SQL statement and costs
        # about a fifth of a small build's time
        "--log-level-file",
        os.environ.get("REFORMWATCH_DBT_LOG_LEVEL", "info"),
        "--quiet",
    ]


KEPT_PARSES = 4  # parsed projects kept in the cache (one per version of the project in use)


def _kept_parse(work_db: Path) -> tuple[Path, str]:
    key = _parse_key(work_db)
    return cache_dir() / "dbt" / f"manifest-{key[:32]}.pickle", key


def parse_project(work_db: Path, work_dir: Path) -> Any:
    """Parse the dbt project (partial parsing, own target folder) without touching work_db; the Manifest.

    Run by the dbt worker while the pipeline ingests: a build given this manifest skips dbt's parse.
    The parsed project is kept (pickled) in the cache folder (config.cache_dir), under a key of
    everything it depends on (_parse_key): while the key is the same, any warehouse folder loads it
    (0.01 s) instead of parsing again (1.3 s with dbt's partial parsing, 3-4 s without, as in a new
    warehouse folder).
    """
    from dbt.cli.main import dbtRunner

    os.environ["REFORMWATCH_WORK_DB"] = str(work_db)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    kept, key = _kept_parse(work_db)
    try:
        kept_key, state = pickle.loads(kept.read_bytes())
        if kept_key == key and _same_env_vars(state.get("env_vars") or {}):
            return _manifest_from(state)
    except Exception:  # none kept yet, or not loadable (e.g. another dbt version): parse
        log.debug("no usable parsed project in %s", kept, exc_info=True)
    res = dbtRunner().invoke(_dbt_args(["parse", "--no-write-json"], work_dir, target="dbt_parse"))
    if res.exception is not None or not res.success:
        raise DbtError(f"dbt parse failed: {res.exception or 'see the dbt log in ' + str(work_dir / 'logs')}")
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        write_replacing(kept, pickle.dumps((key, _manifest_state(res.result))))
        _forget_old_parses(kept.parent)
    except Exception:  # keeping it is an optimisation only
        log.debug("could not keep the parsed project", exc_info=True)
    return res.result


def _same_env_vars(used: dict[str, str]) -> bool:
    """Whether the environment variables the project read while parsing (env_var() in a model, recorded
    by dbt; a default value used as DEFAULT_ENV_PLACEHOLDER) still have the values it read."""
    from dbt.constants import DEFAULT_ENV_PLACEHOLDER

    return all(os.environ.get(k, DEFAULT_ENV_PLACEHOLDER) == v for k, v in used.items())


def _forget_old_parses(folder: Path) -> None:
    """Keep the KEPT_PARSES most recently written parsed projects (and their macro lists)."""
    kept = sorted(folder.glob("manifest-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[KEPT_PARSES:]:
        old.unlink(missing_ok=True)
        _macros_beside(old).unlink(missing_ok=True)


def _macros_beside(kept: Path) -> Path:
    """The list of macros kept beside the parsed project `kept` (manifest-<key>.pickle)."""
    return kept.with_name(kept.name.replace("manifest-", "warm-macros-").replace(".pickle", ".json"))


def warm_macros_file(work_db: Path) -> Path:
    """The macros the last build of this version of the project compiled (beside its parsed project)."""
    return _macros_beside(_kept_parse(work_db)[0])


# The configuration classes dbt validates at the start of every invocation (project, flags, profile,
# credentials, selectors, packages) and of every data test. Each builds its JSON schema on first use in a
# process: about 0.5 s in all, before dbt runs its first node.
VALIDATED_CLASSES = (
    "dbt.contracts.project.ProjectFlags",
    "dbt.contracts.project.Project",
    "dbt.contracts.project.Configuration",
    "dbt.contracts.project.PackageConfig",
    "dbt.contracts.project.ProfileConfig",
    "dbt.contracts.selection.SelectorFile",
    "dbt.adapters.duckdb.credentials.DuckDBCredentials",
    "dbt.task.test.TestResultData",
)


# The packages whose code builds those schemas: their versions key the schemas kept across runs.
SCHEMA_PACKAGES = ("dbt-core", "dbt-common", "dbt-adapters", "dbt-duckdb", "mashumaro")


def _kept_file(stem: str, suffix: str, packages: tuple[str, ...], *more: str) -> Path:
    """A file the dbt worker keeps in the cache folder, under a key of the Python version, the versions
    of `packages` (the code that made what it holds) and `more`."""
    from importlib.metadata import version

    parts = [sys.version, *(f"{p}={version(p)}" for p in packages), *more]
    return cache_dir() / "dbt" / f"{stem}-{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:32]}{suffix}"


def _keep(path: Path, data: bytes, what: str) -> None:
    """Write a kept file; keeping it is an optimisation only, so a failure is just logged."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_replacing(path, data)
    except Exception:
        log.debug("could not keep %s", what, exc_info=True)


def _schemas_file() -> Path:
    """Where the JSON schemas of VALIDATED_CLASSES are kept, under a key of what builds them."""
    return _kept_file("json-schemas", ".pickle", SCHEMA_PACKAGES, *VALIDATED_CLASSES)


def _build_json_schemas() -> None:
    """Have dbt hold the JSON schemas of VALIDATED_CLASSES: those kept by an earlier run (0.3 s less),
    else built (dbt caches them per class) and kept for the next runs."""
    from dbt_common.dataclass_schema import dbtClassMixin

    path = _schemas_file()
    try:
        kept = pickle.loads(path.read_bytes())
    except Exception:  # none kept yet, or not loadable
        kept = None
    if isinstance(kept, dict) and len(kept) == len(VALIDATED_CLASSES):
        _serve_kept_schemas(dbtClassMixin, kept)
        return
    built = {}
    for name in VALIDATED_CLASSES:
        module, _, cls = name.rpartition(".")
        try:
            found = getattr(importlib.import_module(module), cls)
            built[_class_key(found)] = found.json_schema()
        except Exception:  # another dbt version may have moved a class: the build builds it when needed
            log.debug("no JSON schema built for %s", name, exc_info=True)
    if len(built) == len(VALIDATED_CLASSES):
        _keep(path, pickle.dumps(built), "the JSON schemas")


def _class_key(cls: type) -> str:
    """A class's name where it is defined, e.g. dbt.contracts.project.Project."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _serve_kept_schemas(mixin: Any, kept: dict[str, dict]) -> None:
    """Make `mixin.json_schema()` (dbt's base of every validated class) return the kept schema of a class
    named in `kept`, and build the others as before. Classes that define their own json_schema keep it."""
    current = mixin.__dict__["json_schema"].__func__
    building = getattr(current, "building", current)  # dbt's own (cached per class), if already served

    def json_schema(cls: type) -> dict:
        got = kept.get(_class_key(cls))
        return got if got is not None else building(cls)

    json_schema.building = building  # type: ignore[attr-defined]
    mixin.json_schema = classmethod(json_schema)


def _map_module_files() -> None:
    """Have `inspect` map the file of every module loaded so far (it keeps the map).

    dbt-duckdb's adapter names the source of its behaviour flags with inspect.stack() when it registers,
    in every invocation: in a fresh process that maps each loaded module's file first (about 0.15 s,
    before dbt runs its first node)."""
    inspect.getmodule(inspect.currentframe())


def warm_up(manifest: Any, work_db: Path) -> int:
    """Have the Jinja macros the last build used (a list kept by run_dbt) compiled; the number of them.

    dbt compiles a macro's template on first use in a process and keeps it. Compiling the hundred or so
    a build uses takes about 0.2 s before the build, but about 0.5 s inside a build, where it competes
    with the build's threads; their compiled code is kept in the cache folder (_macro_templates), so
    later runs only load it. The JSON schemas dbt validates its configuration with are loaded too (or
    built once: VALIDATED_CLASSES, 0.3-0.5 s), and inspect's map of module files (_map_module_files,
    0.15 s) is made. The dbt worker does this while the pipeline ingests. The work database is not
    touched.
    """
    _build_json_schemas()
    _map_module_files()
    try:
        uids = json.loads(warm_macros_file(work_db).read_text())
    except (OSError, ValueError):  # no build yet
        return 0
    return _macro_templates([m for m in map(manifest.macros.get, uids) if m is not None])


def _jinja_code_file() -> Path:
    """Where the compiled code of the warmed-up macros is kept, under a key of what compiles it."""
    return _kept_file("jinja-code", ".marshal", ("jinja2", "dbt-common"))


def _macro_templates(macros: list[Any]) -> int:
    """Put each macro's template into dbt's template cache, as dbt's get_node_template would make it
    (get_template: its environment, no globals), from compiled code kept by an earlier run when there
    is some (keyed by the macro's source), else compiled now and kept. Returns the number of macros."""
    from dbt_common.clients import jinja as dbt_jinja

    if dbt_jinja.MACRO_DEBUGGING:  # dbt keeps each template's source for tracebacks: compile as dbt does
        for macro in macros:
            dbt_jinja.template_cache.get_node_template(macro)
        return len(macros)
    path = _jinja_code_file()
    try:
        kept = marshal.loads(path.read_bytes())
    except Exception:  # none kept yet, or not loadable
        kept = None
    kept = kept if isinstance(kept, dict) else {}
    codes, compiled = {}, 0
    for macro in macros:
        if macro.macro_sql in dbt_jinja.template_cache.file_cache:
            continue
        key = hashlib.sha256(macro.macro_sql.encode()).hexdigest()
        env = dbt_jinja.get_environment(macro, capture_macros=False, native=False)
        code = kept.get(key)
        if code is None:
            with dbt_jinja.catch_jinja(macro):
                code = env.compile(macro.macro_sql)
            compiled += 1
        codes[key] = code
        template = env.template_class.from_code(env, code, env.make_globals({}), None)
        dbt_jinja.template_cache.file_cache[macro.macro_sql] = template
    if compiled:
        _keep(path, marshal.dumps(codes), "the compiled macros")
    return len(macros)


def _keep_macros_used(manifest: Any, work_db: Path) -> None:
    """Keep the ids of the macros compiled so far in this process, for the next run's warm_up."""
    from dbt_common.clients.jinja import template_cache

    used = set(template_cache.file_cache)
    uids = sorted(uid for uid, m in manifest.macros.items() if m.macro_sql in used)
    target = warm_macros_file(work_db)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_replacing(target, json.dumps(uids).encode())


def _manifest_state(manifest: Any) -> dict[str, Any]:
    """A Manifest's public fields. Its lookups are caches rebuilt on use, and are left out: dbt's own
    Manifest.__reduce_ex__ passes them to the wrong fields (it omits `fixtures`), so it is not used."""
    return {f.name: getattr(manifest, f.name) for f in dataclasses.fields(manifest) if not f.name.startswith("_")}


def _manifest_from(state: dict[str, Any]) -> Any:
    from dbt.contracts.graph.manifest import Manifest

    return Manifest(**state)


def _parse_key(work_db: Path) -> str:
    """What a parsed project depends on: every project file and where the project is, dbt's and Python's
    versions, the work database's name (the catalog of every node; its folder does not matter) and the
    DBT_* environment (dbt's flags). Environment variables a model reads are checked on load."""
    from importlib.metadata import version

    h = hashlib.sha256()
    h.update(f"{sys.version}|{version('dbt-core')}|{version('dbt-duckdb')}|{DBT_PROJECT_DIR}|{work_db.stem}\0".encode())
    for name, value in sorted(os.environ.items()):
        if name.startswith("DBT_"):
            h.update(f"{name}={value}\0".encode())
    skip = {"target", "logs", "dbt_packages"}
    for p in sorted(DBT_PROJECT_DIR.rglob("*")):
        rel = p.relative_to(DBT_PROJECT_DIR)
        if p.is_file() and not skip.intersection(rel.parts):
            h.update(str(rel).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


Progress = Callable[[int, int], None]  # (nodes finished, nodes selected)


def _progress_callback(progress: Progress) -> Callable[[Any], None]:
    """A dbt event callback that calls progress(finished, selected) each time a node finishes."""
    state = {"total": 0, "done": 0}

    def on_event(msg: Any) -> None:
        name = msg.info.name
        if name == "LogStartLine":  # "3 of 97 START ...": the number of nodes selected
            state["total"] = max(state["total"], msg.data.total)
        elif name == "NodeFinished":
            state["done"] += 1
            progress(state["done"], max(state["total"], state["done"]))

    return on_event


def run_dbt(
    args: list[str],
    work_db: Path,
    work_dir: Path,
    env: dict[str, str] | None = None,
    manifest: Any = None,
    progress: Progress | None = None,
) -> DbtResult:
    """Invoke `dbt <args>` against work_db; raise DbtError when a node errors or fails.

    `env` holds environment variables the models read at run time (e.g. REFORMWATCH_AS_OF), set only
    for this invocation; unlike --vars, they do not make dbt re-parse the project. `manifest` is a
    parsed project (parse_project) that dbt then uses instead of parsing again. `progress` is called
    with (nodes finished, nodes selected) as nodes finish.
    """
    from dbt.cli.main import dbtRunner  # lazy: dbt's import costs about a second

    os.environ["REFORMWATCH_WORK_DB"] = str(work_db)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    full = _dbt_args(args, work_dir)
    log.debug("dbt %s", " ".join(full))
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        callbacks = [_progress_callback(progress)] if progress else []
        res = dbtRunner(manifest=manifest, callbacks=callbacks).invoke(full)
    finally:
        _release_duckdb()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if res.exception is not None:
        raise DbtError(f"dbt {args[0]} could not run: {res.exception}")
    failures, warnings, nodes = [], [], 0
    results = getattr(res.result, "results", res.result)  # docs generate returns a CatalogArtifact
    for r in results if isinstance(results, list | tuple) else []:
        nodes += 1
        status = str(getattr(r, "status", ""))
        name = getattr(getattr(r, "node", None), "unique_id", "?")
        msg = (getattr(r, "message", "") or "").strip().splitlines()
        if status in ("error", "fail", "runtime error"):
            failures.append(f"{name}: {msg[0] if msg else status}")
        elif status == "warn":
            warnings.append(f"{name}: {msg[0] if msg else status}")
    if manifest is not None and res.success:
        try:
            _keep_macros_used(manifest, work_db)
        except Exception:  # an optimisation only
            log.debug("could not keep the list of macros used", exc_info=True)
    if failures or not res.success:
        raise DbtError("dbt build failed: " + ("; ".join(failures) or "see the dbt log in " + str(work_dir / "logs")))
    return DbtResult(nodes, failures, warnings)
