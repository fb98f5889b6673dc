"""Scratch files and folders in the system's temporary folder, named after the process that owns them,
and the sweep that removes those a killed run left behind (its SIGKILL skips every clean-up)."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

# reformwatch-<what>-<pid>-<host>-<random>: the host tag keeps a sweep in one container (its own process
# numbers) away from another's scratch when they share the temporary folder.
_OWNED = re.compile(r"reformwatch-[a-z]+-(\d+)-([0-9a-f]{6})-")


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def scratch_prefix(what: str) -> str:
    """The name prefix for this process's scratch of one kind (e.g. "dbt", "ingest")."""
    return f"reformwatch-{what}-{os.getpid()}-{_host_tag()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_stale(folder: Path | None = None) -> int:
    """Remove this host's reformwatch scratch whose owning process is gone; return how many entries.

    A live run's scratch is never touched; an owner number reused by another process keeps its entry
    until that process ends.
    """
    folder = Path(folder or tempfile.gettempdir())
    host, removed = _host_tag(), 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = _OWNED.match(entry.name)
        if not m or m[2] != host or _alive(int(m[1])):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
        except OSError:
            log.debug("could not remove %s", entry.path, exc_info=True)
    if removed:
        log.info("removed %d scratch entr%s in %s left by killed runs", removed, "y" if removed == 1 else "ies", folder)
    return removed
