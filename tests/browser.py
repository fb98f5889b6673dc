"""Headless Chromium (Debian's package) and loopback HTTP servers for the browser tests."""

from __future__ import annotations

import contextlib
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

# As the machine's notes advise for a closed network: no background traffic, a fresh profile per call.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Debian's chromium is required (bin/install-test-deps installs it)"
    return exe


def dump_dom(page: Path, profile: Path, *flags: str, timeout: float = 180) -> str:
    """The page's DOM after its scripts ran, as Chromium dumps it (`flags` added to FLAGS)."""
    got = subprocess.run(
        [chromium(), *FLAGS, *flags, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert got.returncode == 0, got.stderr[-2000:]
    return got.stdout


@contextlib.contextmanager
def loopback_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """`handler` served on 127.0.0.1 in a thread; yields the port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
