"""Data Docs and the data dictionary (dbt docs) work on an intranet cut off from the internet.

`reformwatch run` and `reformwatch docs --no-serve` build both sites from the bundled round. Headless
Chromium opens every page with the network blocked: every address outside the machine goes to a
recording proxy that refuses it, and no host name resolves. The pages must ask the proxy for nothing,
the Data Docs index must list its validation results (bootstrap-table, a vendored script, draws the
rows), validation pages must draw their tables, and dbt docs must list the marts.
"""

from __future__ import annotations

import http.server
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser import dump_dom, loopback_server

from reformwatch.config import SAMPLE_LANDING, Settings
from reformwatch.offline_docs import ASSET_DIR, ASSETS

pytestmark = pytest.mark.slow
EXE = Path(sys.executable).with_name("reformwatch")


class _Refuse(http.server.BaseHTTPRequestHandler):
    """A proxy that records what a page asked the outside world for, and gives nothing."""

    asked: list[str] = []
    # Chromium's own traffic (component updates, network time, sign-in), whatever page it shows
    BROWSER_OWN = ("update.googleapis.com", "clients2.google.com", "accounts.google.com")

    def _refuse(self) -> None:
        host = urlsplit(self.path if "://" in self.path else f"//{self.path}").hostname
        if host not in self.BROWSER_OWN:
            _Refuse.asked.append(f"{self.command} {self.path}")
        self.send_error(502)

    do_GET = do_POST = do_HEAD = do_CONNECT = _refuse  # noqa: N815 - the names http.server calls

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def proxy():
    with loopback_server(_Refuse) as port:
        yield port


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    root = tmp_path_factory.mktemp("offline")
    warehouse = root / "warehouse.duckdb"
    common = ["--warehouse", str(warehouse)]
    run = subprocess.run([EXE, "run", "--landing", str(SAMPLE_LANDING), *common], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    docs = subprocess.run([EXE, "docs", *common, "--no-serve"], capture_output=True, text=True)
    assert docs.returncode == 0, docs.stderr[-3000:]
    dbt_docs = Path(re.search(r"data dictionary: (\S+)", docs.stdout).group(1))
    return Settings(landing=SAMPLE_LANDING, warehouse=warehouse).data_docs_dir, dbt_docs


def offline_dom(page: Path, proxy: int, profile: Path) -> str:
    return dump_dom(
        page,
        profile,
        "--allow-file-access-from-files",  # dbt docs read manifest.json and catalog.json next to the page
        "--virtual-time-budget=8000",
        f"--proxy-server=http://127.0.0.1:{proxy}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    )


def test_data_docs_and_dbt_docs_load_nothing_from_the_network(sites, proxy, tmp_path):
    data_docs, dbt_docs = sites
    validations = sorted((data_docs / "validations").rglob("*.html"))
    suites = sorted((data_docs / "expectations").glob("*.html"))
    assert len(validations) >= 7 and len(suites) >= 7
    _Refuse.asked.clear()
    seen = {
        p: offline_dom(p, proxy, tmp_path / f"p{i}")
        for i, p in enumerate([data_docs / "index.html", *validations, *suites, dbt_docs])
    }
    assert _Refuse.asked == [], f"pages asked the network for: {sorted(set(_Refuse.asked))}"

    index = seen[data_docs / "index.html"]
    drawn = re.findall(r'<tr class="clickable-row" data-href="(validations/[^"]+)" data-index="\d+"', index)
    assert sorted(drawn) == sorted(str(p.relative_to(data_docs)) for p in validations), "the validation list is empty"
    for page in validations:
        assert 'class="bootstrap-table' in seen[page], f"{page.name}: bootstrap-table did not draw its tables"
    assert "marts" in seen[dbt_docs] and "exam_unit_round" in seen[dbt_docs], "dbt docs did not list the models"
    for page in [data_docs / "index.html", *validations, *suites]:
        html = page.read_text(encoding="utf-8")
        assert not re.search(r'<(script|link|img)\b[^>]*(src|href)="(https?:)?//', html), f"{page}: remote asset"


def test_vendored_assets_are_the_listed_npm_files():
    listed = {f"{p.folder}/{f}" for p in ASSETS for f in p.copied_files} | {
        str(f.relative_to(ASSET_DIR)) for p in ASSETS for d in p.folders for f in (ASSET_DIR / p.folder / d).rglob("*")
    }
    on_disk = {str(f.relative_to(ASSET_DIR)) for f in ASSET_DIR.rglob("*") if f.is_file()} - {"README.md"}
    assert on_disk == listed
    readme = (ASSET_DIR / "README.md").read_text()
    assert all(f"| {p.name} | {p.version} |" in readme for p in ASSETS)
