"""The bulletin HTML opens in headless Chromium (Debian's package) without errors and shows the charts;
a screenshot is kept in test-artifacts/ ."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from browser import FLAGS, chromium, dump_dom
from landing_builder import run_pipeline

from reformwatch.config import PROJECT_ROOT, SAMPLE_LANDING


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    wh = tmp_path_factory.mktemp("browser") / "warehouse.duckdb"
    run_pipeline(SAMPLE_LANDING, wh).close()
    return wh.parent / "reports" / "2018-R1" / "bulletin.html"


def test_bulletin_renders_with_charts_and_no_errors(html, tmp_path):
    artifacts = PROJECT_ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "bulletin-2018-R1.png"
    shot.unlink(missing_ok=True)
    run = subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=900,3400",
            f"--screenshot={shot}",
            "--enable-logging=stderr",
            "--v=0",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    console = [ln for ln in run.stderr.splitlines() if "CONSOLE" in ln]
    assert console == [], console
    assert shot.is_file() and shot.stat().st_size > 50_000  # a rendered page, not a blank one
    dom = dump_dom(html, tmp_path / "profile2", timeout=120)
    assert len(re.findall(r"<svg\b", dom)) >= 3
    assert len(re.findall(r'class="bar"', dom)) >= 18 + 20  # unit averages + histogram bins
    assert "87.4" in dom and "省法院" in dom
