"""Deferred imports: a stand-in until first use, then the real module; GX loads without scipy.stats."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from reformwatch.deferred_import import defer, is_deferred


@pytest.fixture
def heavy_package(tmp_path, monkeypatch):
    """A package `heavy_pkg` with a subpackage `part`; each records in `loaded` when its code runs."""
    pkg = tmp_path / "heavy_pkg"
    (pkg / "part").mkdir(parents=True)
    (pkg / "__init__.py").write_text("import builtins\nbuiltins.loaded = ['heavy_pkg']\n")
    (pkg / "part" / "__init__.py").write_text("import builtins\nbuiltins.loaded.append('part')\nANSWER = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [m for m in sys.modules if m == "heavy_pkg" or m.startswith("heavy_pkg.")]:
        del sys.modules[name]
    import builtins

    builtins.__dict__.pop("loaded", None)


def test_a_deferred_module_runs_on_first_use_only(heavy_package):
    import builtins

    assert defer("heavy_pkg.part")
    assert builtins.loaded == ["heavy_pkg"]  # the parent is imported to find the child; the child is not
    from heavy_pkg import part  # noqa: I001 - imported on purpose after defer()
    import heavy_pkg.part as same

    assert builtins.loaded == ["heavy_pkg"]
    assert is_deferred("heavy_pkg.part") and part is same
    assert part.ANSWER == 42  # first use: the real module runs
    assert builtins.loaded == ["heavy_pkg", "part"]
    assert not is_deferred("heavy_pkg.part")
    assert sys.modules["heavy_pkg.part"] is sys.modules["heavy_pkg"].part
    assert type(sys.modules["heavy_pkg.part"]).__name__ == "module"
    assert part.ANSWER == 42 and builtins.loaded == ["heavy_pkg", "part"]  # runs once


def test_nothing_is_deferred_that_is_imported_or_missing(heavy_package):
    import heavy_pkg.part  # noqa: F401

    assert not defer("heavy_pkg.part")
    assert not defer("heavy_pkg.no_such_module")
    assert not defer("no_such_package.anything")
    assert not is_deferred("heavy_pkg.part")


def test_gx_loads_without_the_modules_no_suite_uses_and_they_still_work():
    """In a new process: GX's import leaves scipy.stats and altair deferred; GX code using them works."""
    code = textwrap.dedent(
        """
        import sys
        from reformwatch import quality
        from reformwatch.deferred_import import is_deferred
        quality.preload()
        print(all(is_deferred(n) for n in quality.GX_UNUSED_MODULES), "scipy.stats._stats_py" in sys.modules)
        from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl
        print(round(float(kl.stats.entropy([0.5, 0.5], [0.25, 0.75])), 4), kl.alt.Chart.__name__)
        print(any(is_deferred(n) for n in quality.GX_UNUSED_MODULES))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:3] == ["True False", "0.1438 Chart", "False"]


def test_gx_does_not_hash_the_frames_it_validates():
    """In a new process: GX's pandas engine computes its frame fingerprint by default (so the test would
    see a change of GX that makes the setting moot), and not once quality.preload() has run."""
    code = textwrap.dedent(
        """
        import pandas as pd
        from great_expectations.core.batch_spec import RuntimeDataBatchSpec
        from great_expectations.execution_engine import PandasExecutionEngine
        from reformwatch import quality

        def markers():
            spec = RuntimeDataBatchSpec(batch_data=pd.DataFrame({"score": [60.0, 90.5]}))
            return dict(PandasExecutionEngine().get_batch_data_and_markers(batch_spec=spec)[1])

        print("pandas_data_fingerprint" in markers())
        quality.preload()
        print("pandas_data_fingerprint" in markers())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:2] == ["True", "False"]


def test_the_checks_worker_runs_gx_without_its_sql_extra():
    """In a new process, as in the checks worker: with sqlalchemy hidden, GX imports without it and
    validates a pandas frame; a process that has imported sqlalchemy (Airflow's) keeps it."""
    code = textwrap.dedent(
        """
        import sys
        import pandas as pd
        from reformwatch import quality
        print(quality.hide_gx_sql_extra())
        gx = quality.preload()
        from great_expectations.compatibility import sqlalchemy as gx_sa
        print(sys.modules["sqlalchemy"] is None, gx_sa.sqlalchemy is gx_sa.SQLALCHEMY_NOT_IMPORTED)
        asset = gx.get_context(mode="ephemeral").data_sources.add_pandas("p").add_dataframe_asset("a")
        frame = pd.DataFrame({"x": [1, None]})
        batch = asset.add_batch_definition_whole_dataframe("b").get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(gx.expectations.ExpectColumnValuesToNotBeNull(column="x"))
        print(result.success, result.result["unexpected_count"])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:3] == ["True", "True True", "False 1"]
    kept = textwrap.dedent(
        """
        import sys
        import sqlalchemy
        from reformwatch import quality
        print(quality.hide_gx_sql_extra(), sys.modules["sqlalchemy"] is sqlalchemy)
        """
    )
    out = subprocess.run([sys.executable, "-c", kept], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
