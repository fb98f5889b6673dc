"""Submitted values never become markup, links, formulas or terminal control sequences.

A landing zone whose free-text and coded columns (and unit names) carry script tags, event handlers,
`javascript:` URLs, Markdown links and images, ANSI escape sequences and formula-like text goes through
`reformwatch run`. Then headless Chromium opens every generated HTML page (Data Docs index and validation
pages, the bulletin, dbt docs): no script runs (it would set the page title) and no request reaches the
canary server the values point at, while the values show as text; the unit feedback CSVs hold no cell
that Excel would evaluate; `status` and `sql` print no raw escape character.
"""

from __future__ import annotations

import csv
import http.server
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser import dump_dom, loopback_server
from landing_builder import AFTER_DEADLINE, Landing, exam_rows

from reformwatch.config import Settings

pytestmark = pytest.mark.slow

PAGE_FLAGS = [
    "--allow-file-access-from-files",  # dbt docs read manifest.json and catalog.json next to the page
    "--virtual-time-budget=5000",
]
EXE = Path(sys.executable).with_name("reformwatch")


class _Canary(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        _Canary.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def canary():
    with loopback_server(_Canary) as port:
        yield port


def hostile(port: int) -> dict[str, str]:
    base = f"http://127.0.0.1:{port}"
    return {
        "img": f"<img src={base}/img onerror=document.title='PWNED'>",
        "script": "<script>document.title='PWNED'</script>",
        "js": "javascript:document.title='PWNED'",
        "md_image": f"![x]({base}/md-image)",
        "md_link": f"[点此]({base}/md-link)",
        "ansi": "\x1b[31mRED\x1b[0m\x1b[2J",
        "formula": f'=HYPERLINK("{base}/formula","x")',
    }


@pytest.fixture(scope="module")
def published(tmp_path_factory, canary):
    root = tmp_path_factory.mktemp("hostile")
    v = hostile(canary)
    land = Landing(
        root / "landing",
        units={
            "AAA": "甲厅" + v["img"] + v["md_image"],
            "BBB": "乙局" + v["script"],
            "CCC": "丙委" + v["md_link"] + v["ansi"],
        },
    )
    land.good_round(skip=("AAA",))
    land.progress("AAA")
    rows = exam_rows("AAA", scores=[95, 85, 70, 100, 60, 75, 80])
    rows[0].update(status=v["img"])  # unknown_status
    rows[1].update(rank_level=v["script"])  # unknown_rank_level
    rows[2].update(status="缺考", score="", absence_reason=v["formula"])
    rows[3].update(discipline_note=v["md_image"] + v["ansi"])
    rows[4].update(score=v["js"])  # invalid_score
    rows[5].update(examinee_id="+1+1")
    rows[6].update(examinee_id="@SUM(1)", absence_reason="-2+3", status="缺考", score="")
    land.exam("AAA", rows=rows)
    warehouse = root / "out" / "warehouse.duckdb"
    env = {**os.environ, "NO_COLOR": "1"}
    common = ["--warehouse", str(warehouse)]
    run = subprocess.run(
        [EXE, "run", "--landing", str(land.root), *common, "--as-of", AFTER_DEADLINE],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    docs = subprocess.run([EXE, "docs", *common, "--no-serve"], capture_output=True, text=True, env=env)
    assert docs.returncode == 0, docs.stderr[-3000:]
    dbt_docs = Path(re.search(r"data dictionary: (\S+)", docs.stdout).group(1))
    return Settings(landing=land.root, warehouse=warehouse), dbt_docs, v, common, env, run.stdout


def test_no_html_page_runs_a_submitted_script_and_the_values_show_as_text(published, tmp_path):
    settings, dbt_docs, v, _, _, _ = published
    docs = settings.data_docs_dir
    validation_pages = sorted((docs / "validations").rglob("*.html"))
    bulletin = settings.warehouse.parent / "reports" / "2024-R1" / "bulletin.html"
    pages = [docs / "index.html", *validation_pages, bulletin, dbt_docs]
    assert len(validation_pages) >= 7 and all(p.is_file() for p in pages)
    _Canary.hits.clear()
    seen = {}
    for i, page in enumerate(pages):
        seen[page] = dump_dom(page, tmp_path / f"profile{i}", *PAGE_FLAGS)
        assert "<title>PWNED</title>" not in seen[page], f"a submitted script ran in {page}"
    assert _Canary.hits == [], f"a submitted value made a request: {_Canary.hits}"

    raw_exam = next(p for p in validation_pages if "raw_exam_rows" in str(p))
    assert "&lt;img src=http://127.0.0.1" in seen[raw_exam]  # the unknown status, shown as text
    assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in seen[raw_exam]
    text = seen[bulletin]
    assert "&lt;img src=http://127.0.0.1" in text and "&lt;script&gt;" in text  # unit names, as text
    assert "![x](http://127.0.0.1" in text and "[点此](http://127.0.0.1" in text  # Markdown, as text
    assert '<a href="http' not in text and "<img" not in text


def test_feedback_files_hold_no_formula(published):
    settings, *_ = published
    units = settings.warehouse.parent / "reports" / "2024-R1" / "units"
    cells = [c for f in sorted(units.glob("*.csv")) for row in csv.reader(f.open(encoding="utf-8")) for c in row]
    assert cells
    for cell in cells:
        if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
            float(cell)  # only a number may start like a formula
    assert "'+1+1" in cells and "'@SUM(1)" in cells and "'-2+3" in cells


def test_the_terminal_gets_no_escape_sequence(published):
    settings, _, _, common, env, run_output = published
    assert "\x1b" not in run_output
    for args in (
        ["status", *common],
        ["sql", *common, "select unit_name from marts.reform_unit_round order by 1"],
        ["sql", *common, "select detail from dq.issues order by 1"],
    ):
        out = subprocess.run([EXE, *args], capture_output=True, text=True, env=env)
        assert "\x1b" not in out.stdout + out.stderr, args
    shown = subprocess.run(
        [EXE, "sql", *common, "select unit_name from marts.reform_unit_round where unit_code = 'CCC'"],
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    assert "\\x1b[31mRED" in shown  # the value, its control characters written out
