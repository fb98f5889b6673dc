"""Data Docs that work without a network: GX's pages load their scripts, styles and fonts from CDNs and
a logo from a remote bucket. After GX builds the site, `localize_site` copies the vendored copies of
those packages (reformwatch/docs_assets, taken from the npm registry by bin/vendor-docs-assets) into
the site and points every page at them, so no request leaves the machine.

ASSETS is the one table of what is vendored: npm package, version, the registry's integrity hash,
and for each vendored file the CDN addresses GX's templates use for it.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ASSET_DIR = Path(__file__).with_name("docs_assets")
SITE_FOLDER = "static/vendor"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str
    license_file: str
    files: dict[str, tuple[str, ...]]  # path in the npm package -> CDN addresses it replaces
    folders: tuple[str, ...] = ()  # folders copied whole (fonts a stylesheet loads relative to itself)

    @property
    def folder(self) -> str:
        return f"{self.name.replace('/', '__').lstrip('@')}-{self.version}"

    @property
    def copied_files(self) -> list[str]:
        """The single files vendored from the package (besides `folders`): its assets and its license."""
        return [*self.files, *([self.license_file] if self.license_file else [])]


ASSETS: tuple[Package, ...] = (
    Package(
        "jquery",
        "3.7.1",
        "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==",
        "LICENSE.txt",
        {"dist/jquery.min.js": ("https://code.jquery.com/jquery-3.7.1.min.js",)},
    ),
    Package(
        "popper.js",
        "1.12.9",
        "sha512-s0EEi9xiSCdqz9lV4IiVH5yIZnDX/U1t0tCjB+0jXx9jW8lrR7kOpVupiUg175ogqVoudpDXHF1p6dKATCHMeg==",
        "",  # the npm package carries no license file; MIT, as its package.json says
        {"dist/umd/popper.min.js": ("https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js",)},
    ),
    Package(
        "bootstrap",
        "4.3.1",
        "sha512-rXqOmH1VilAt2DyPzluTi2blhk17bO7ef+zLLPlWvG494pDxcM234pJ8wTc/6R40UWizAIIMgxjvxZg5kmsbag==",
        "LICENSE",
        {
            "dist/css/bootstrap.min.css": ("https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css",),
            "dist/js/bootstrap.min.js": ("https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js",),
        },
    ),
    Package(
        "bootstrap-table",
        "1.19.1",
        "sha512-WvV+l1AI/C+zThaKmfHmi/IuayVNB0qdFyEhFx1jyZhO0oLtNJNANkCR3rvJf6Dkh72dsLElxpE/bzK9seEQLA==",
        "LICENSE",
        {
            "dist/bootstrap-table.min.css": ("https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css",),
            "dist/bootstrap-table.min.js": ("https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js",),
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
                "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
                "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css",
            ),
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
                "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
            ),
        },
    ),
    Package(
        "bootstrap-datepicker",
        "1.9.0",
        "sha512-9rYYbaVOheGYxjOr/+bJCmRPihfy+LkLSg4fIFMT9Od8WwWB/MB50w0JO1eBgKUMbb7PFHQD5uAfI3ArAxZRXA==",
        "LICENSE",
        {
            "dist/css/bootstrap-datepicker.min.css": (
                "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css",
            ),
            "dist/js/bootstrap-datepicker.min.js": (
                "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js",
            ),
        },
    ),
    Package(
        "@forevolve/bootstrap-dark",
        "1.1.0",
        "sha512-A3ucpEpxPoTVO490lZZCfjPXxv832l7mm1IxX3bXyxvgwnPGXDLyh7dWrphXKO8YBAu3EswbBEu3VSW8NRMW3A==",
        "LICENSE",
        {
            "dist/css/bootstrap-prefers-dark.min.css": (
                "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css",
            ),
        },
    ),
    Package(
        "@fortawesome/fontawesome-free",
        "6.6.0",
        "sha512-60G28ke/sXdtS9KZCpZSHHkCbdsOGEhIUGlwq6yhY74UpTiToIh8np7A8yphhM4BWsvNFtIvLpi4co+h9Mr9Ow==",
        "LICENSE.txt",
        {"css/all.min.css": ("https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css",)},
        folders=("webfonts",),
    ),
    Package(
        "vega",
        "5.33.1",
        "sha512-1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1LcrbHUskQbGUP8gXOzyQw==",
        "",  # BSD-3-Clause, as its package.json says; the npm package carries no license file
        {"build/vega.min.js": ("https://cdn.jsdelivr.net/npm/vega@5",)},
    ),
    Package(
        "vega-lite",
        "5.23.0",
        "sha512-l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA==",
        "LICENSE",
        {"build/vega-lite.min.js": ("https://cdn.jsdelivr.net/npm/vega-lite@5",)},
    ),
    Package(
        "vega-embed",
        "6.29.0",
        "sha512-PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXFma+FDHNXUppKuM0U6Q==",
        "LICENSE",
        {"build/vega-embed.min.js": ("https://cdn.jsdelivr.net/npm/vega-embed@6",)},
    ),
)

# GX's navbar logo: a remote image with the data context's id in its query string. GX ships the same
# image in the site's static/images.
_REMOTE_LOGO = re.compile(r'https://great-expectations-web-assets\.s3[^"\']*/(logo-long\.png)[^"\']*')
# what a page may still load from elsewhere: <script src>, <link href>, <img src>
_REMOTE_LOAD = re.compile(r'<(?:script|link|img)\b[^>]*?\b(?:src|href)\s*=\s*["\']((?:https?:)?//[^"\']+)', re.I)


def _replacements() -> dict[str, str]:
    return {url: f"{p.folder}/{path}" for p in ASSETS for path, urls in p.files.items() for url in urls}


def localize_site(site: Path) -> list[str]:
    """Copy the vendored assets into `site` and point every page at them. Returns the remote
    addresses pages still load (none with the GX version requirements.lock pins)."""
    target = site / SITE_FOLDER
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ASSET_DIR, target)
    replacements = _replacements()
    pattern = re.compile("|".join(re.escape(u) for u in sorted(replacements, key=len, reverse=True)))
    left: set[str] = set()
    for page in site.rglob("*.html"):
        up = "../" * (len(page.relative_to(site).parts) - 1)  # from the page to the site's root
        local = {url: f"{up}{SITE_FOLDER}/{path}" for url, path in replacements.items()}
        html = pattern.sub(lambda m, local=local: local[m.group(0)], page.read_text(encoding="utf-8"))
        html = _REMOTE_LOGO.sub(rf"{up}static/images/\1", html)
        page.write_text(html, encoding="utf-8")
        left.update(_REMOTE_LOAD.findall(html))
    if left:
        log.warning("Data Docs still load %d remote address(es) offline readers will miss: %s", len(left), sorted(left))
    return sorted(left)
