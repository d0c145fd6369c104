"""Cleaning up after training runs that died: ``training`` rows whose process is gone,
their partial lists and artifact folders (never the served or a ready version).

Used at the start of every ``train`` and by ``cratedig versions --cleanup``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from cratedig.clock import now_ms
from cratedig.pipeline.registry import active_version_id, update_version
from cratedig.store.version_rows import (
    all_version_ids,
    delete_version_lists,
    versions_with_status,
)

#: A ``training`` run started on another host counts as abandoned after this long.
STALE_MS = 24 * 3_600_000
_RUNNING = re.compile(r"^running: pid (\d+) on (.+)$")
_VERSION_DIR = re.compile(r"^v\d{8}T\d{6}-[0-9a-f]{6}$")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child that its parent has not reaped yet is a zombie: dead
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def still_running(note: str | None, started_at_ms: int, at_ms: int | None = None) -> bool:
    """Whether the run of a ``training`` row may still be going.

    On this host: whether its process is alive. On another host: whether it started less
    than :data:`STALE_MS` ago. A row without the note (written before runs noted their
    process) counts as abandoned.
    """
    match = _RUNNING.match(note or "")
    if match is None:
        return False
    pid, host = int(match.group(1)), match.group(2)
    if host == socket.gethostname():
        return pid == os.getpid() or _process_alive(pid)
    return (at_ms or now_ms()) - started_at_ms < STALE_MS


@dataclass
class CleanupReport:
    """What :func:`cleanup_abandoned` did.

    Attributes
    ----------
    abandoned
        ``training`` runs whose process is gone, now marked ``failed``.
    cleaned
        Versions (the abandoned and the failed) whose lists and folders were removed.
    list_rows
        List rows deleted.
    folders
        Artifact folders deleted (of cleaned versions, and version folders in the
        artifacts folder that the registry does not know).
    """

    abandoned: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)
    list_rows: int = 0
    folders: list[str] = field(default_factory=list)


def cleanup_abandoned(engine: Engine, artifacts_dir: str | Path | None = None) -> CleanupReport:
    """Mark dead ``training`` runs ``failed`` and delete the leftovers of failed runs.

    Deletes the lists (precomputed, similar artists, fallbacks) and artifact folders of
    every ``failed`` version, and of every ``training`` version whose run is no longer
    going (:func:`still_running`), which is marked ``failed`` first. Version folders in
    ``artifacts_dir`` that no registry row names are deleted too. The served version,
    ``ready`` and ``rejected`` versions and runs still going are never touched.
    """
    report = CleanupReport()
    at = now_ms()
    # Folders first: a run's registry row is written before its folder, so a folder
    # listed now and still unknown to the registry below belongs to no run.
    candidates = []
    if artifacts_dir is not None and Path(artifacts_dir).is_dir():
        candidates = [
            p for p in Path(artifacts_dir).iterdir() if p.is_dir() and _VERSION_DIR.match(p.name)
        ]
    with engine.begin() as conn:
        active = active_version_id(conn)
        rows = versions_with_status(conn, ("training", "failed"))
        for row in rows:
            if row["version_id"] == active:
                continue
            if row["status"] == "training":
                if still_running(row["note"], int(row["started_at_ms"]), at):
                    continue
                update_version(
                    conn,
                    row["version_id"],
                    status="failed",
                    finished_at_ms=at,
                    note="abandoned: its training run stopped without finishing "
                    "(killed?); its lists and files were removed",
                )
                report.abandoned.append(row["version_id"])
            report.cleaned.append(row["version_id"])
        report.list_rows = delete_version_lists(conn, report.cleaned)
        known = all_version_ids(conn)
    folders = {
        Path(row["artifact_path"])
        for row in rows
        if row["version_id"] in report.cleaned and row["artifact_path"]
    }
    folders.update(p for p in candidates if p.name not in known)
    for folder in sorted(folders):
        if folder.is_dir() and folder.name != active:
            shutil.rmtree(folder, ignore_errors=True)
            report.folders.append(str(folder))
    return report
