"""What a long-running surface (``vedder mcp``, ``vedder web``) keeps between requests.

The project, reloaded when its files change (``ProjectWatcher``); open warehouses lent to one request at a time
(``WarehousePool``); ``ask_served``, ``vedder.ask.ask`` for a surface; and the checks made before listening on a
port. Light imports only: the web server must start without the MCP SDK, and neither imports litellm until a
model answers.

>>> listen_error("127.0.0.1", 8766, OSError(98, "Address already in use")).hint
'pick another port with --port N'
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from vedder.config import CONFIG_FILE, load_config
from vedder.errors import UsageError
from vedder.files import ParseCache
from vedder.project import load_project
from vedder.project.model import rescan_project, scan_project
from vedder.project.watch import Changes, ProjectEvents

if TYPE_CHECKING:
    from vedder.ask import Answer
    from vedder.config import Config
    from vedder.project import Project
    from vedder.project.model import ClusterFiles
    from vedder.warehouse import Warehouse

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class ProjectWatcher:
    """The loaded project, kept up to date with ``vedder.yaml`` and the files under ``clusters/``.

    Clusters load on first use, from their parse caches, and routing reads the stored index, as for a one-shot
    command (``load_project(..., lazy=True)``). On Linux the project's folders are watched with inotify
    (``vedder.project.watch``): ``current()`` reads the events since the last call (one non-blocking read), scans
    only the cluster folders they name and reads again those whose files changed (``load_project(...,
    previous=...)``); no event, no check at all. Without events to trust (``watch=False``, not Linux, no watches to
    be had, a network file system, links; or a queue overflow, for that call) each ``current()`` makes the command's
    own check — one stat per file (``scan_project``). A changed ``vedder.yaml`` reloads the project.
    """

    def __init__(self, project: Path | None = None, *, watch: bool = True) -> None:
        self.root = load_config(project).root
        self._lock = threading.Lock()
        self._warned: list[dict[str, Any]] = []
        self._pending = Changes()
        self._events: ProjectEvents | None = None
        if watch:  # before the first load: an edit made after it is an event
            self._watch(ProjectEvents.start(self.root))
        self._config_stamp = config_stamp(self.root)
        self._project = self._load(load_config(self.root))
        self._check_links(self._project.files or {})

    @property
    def watching(self) -> bool:
        """Whether requests learn of changes from inotify's events (else from a stat of every file)."""
        return self._events is not None

    def _watch(self, events: "ProjectEvents | str") -> None:
        if isinstance(events, str):
            if "fs.inotify.max_user_" in events:  # the reasons a person can do something about
                print(f"note: not watching the project for changes, {events}; each request checks every file",
                      file=sys.stderr, flush=True)
            self._stop_watching()
        else:
            self._events = events

    def _stop_watching(self) -> None:
        if self._events is not None:
            self._events.close()
        self._events = None

    def _check_links(self, files: "dict[str, ClusterFiles]") -> None:
        if self._events is not None and any(found.linked for found in files.values()):
            self._stop_watching()  # an edit through a link's other name is no event here

    def _load(self, config: "Config", scanned: "dict[str, ClusterFiles] | None" = None,
              previous: "Project | None" = None) -> "Project":
        """The project with broken clusters left out, each named on stderr when it first breaks (the client's log)."""
        project = load_project(config, skip_broken=True, lazy=True, scanned=scanned, previous=previous)
        for warning in project.warnings:
            if warning not in self._warned:
                print(f"warning: {warning['message']}\nhint: `vedder validate` lists every problem with file and line",
                      file=sys.stderr, flush=True)
        self._warned = project.warnings
        return project

    @property
    def loaded(self) -> "Project":
        """The project as of the last load or check, without checking again."""
        return self._project

    def current(self) -> "Project":
        """The project as the files are now (the clusters that changed since the last call read again)."""
        with self._lock:
            if self._events is not None:
                try:
                    self._pending.merge(self._events.changes())
                except Exception:  # noqa: BLE001 (whatever went wrong, every file is checked as without events)
                    self._stop_watching()
                else:
                    return self._follow_events()
            return self._check_every_file()

    def _follow_events(self) -> "Project":
        """The project after the changes events named (kept as pending until read: a vedder.yaml that does not read
        raises, and is read again next call)."""
        pending = self._pending
        if pending.everything:
            self._check_every_file()
            self._check_links(self._project.files or {})
        else:
            if pending.config and self._reload_config():
                pending.clusters.clear()
            if pending.clusters:
                project = self._project
                scanned = rescan_project(project.config, project.files or {}, pending.clusters)
                if project.changed(scanned):
                    self._project = self._load(project.config, scanned, previous=project)
                self._check_links({name: scanned[name] for name in pending.clusters if name in scanned})
        self._pending = Changes()
        return self._project

    def _reload_config(self) -> bool:
        """Read ``vedder.yaml`` again; when the config changed, load the project again and say so."""
        stamp = config_stamp(self.root)
        config = load_config(self.root)  # a vedder.yaml that does not read raises, and is read again next call
        self._config_stamp = stamp
        if config == self._project.config:
            return False
        self._project = self._load(config)
        return True

    def _check_every_file(self) -> "Project":
        """The command's own check: a stat of ``vedder.yaml`` and of every file under ``clusters/``."""
        stamp = config_stamp(self.root)
        if (stamp != self._config_stamp or not _settled(stamp)) and self._reload_config():
            return self._project
        scanned = scan_project(self._project.config)
        if self._project.changed(scanned):
            self._project = self._load(self._project.config, scanned, previous=self._project)
        return self._project


def config_stamp(root: Path) -> tuple[int, int, int, int] | None:
    """(size, mtime, ctime, inode) of ``vedder.yaml``. The ctime catches a file restored with its old size and mtime
    (cp -p, rsync -a, tar): no tool can set it back."""
    try:
        info = os.stat(root / CONFIG_FILE)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino


def _settled(stamp: tuple[int, int, int, int] | None) -> bool:
    """Whether a file with ``stamp`` last changed long enough ago for its stat to tell every later change
    (``ParseCache.SETTLED_NS``)."""
    return stamp is not None and stamp[2] < time.time_ns() - ParseCache.SETTLED_NS


class WarehousePool:
    """Open warehouses kept between calls: opening DuckDB costs ~100 ms, a query on an open one a few ms.

    A warehouse serves one call at a time; concurrent calls borrow another. The pool empties itself when the
    configured warehouse changes (another path in vedder.yaml, or the file rebuilt by ``vedder demo``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._opening = threading.Lock()
        self._idle: list["Warehouse"] = []
        self._key: tuple[Any, ...] | None = None

    @staticmethod
    def _key_of(config: "Config") -> tuple[Any, ...]:
        try:
            info = os.stat(config.warehouse_path) if config.warehouse_path else None
        except OSError:
            info = None
        return (config.warehouse_type, config.warehouse_path, info and (info.st_ino, info.st_mtime_ns, info.st_size))

    @contextmanager
    def borrow(self, config: "Config") -> Iterator["Warehouse"]:
        from vedder.warehouse import open_warehouse

        key = self._key_of(config)
        with self._lock:
            if key != self._key:
                self._close_idle()
                self._key = key
            warehouse = self._idle.pop() if self._idle else None
        if warehouse is None:
            with self._opening:  # two first connections to one DuckDB file at once raced to lock its configuration
                warehouse = open_warehouse(config)
        try:
            yield warehouse
        finally:
            with self._lock:
                if key == self._key:
                    self._idle.append(warehouse)
                else:
                    warehouse.close()

    def close(self) -> None:
        """Close the idle warehouses (a server stopping)."""
        with self._lock:
            self._close_idle()

    def _close_idle(self) -> None:
        for warehouse in self._idle:
            warehouse.close()
        self._idle.clear()


def ask_served(project: "Project", warehouses: WarehousePool, question: str, *, surface: str, cluster_id: str | None = None,
               conversation_id: str | None = None, model: str | None = None,
               on_step: Callable[[dict[str, Any]], None] | None = None, shared: bool = True, user: str | None = None) -> "Answer":
    """``vedder.ask.ask`` on a server's warehouse pool. ``shared``: the server answers many people as one OS user
    (HTTP), so route memory trusts no answer as the asker's own. ``user``: who asked, when the surface knows (a
    Slack user id), logged instead of the server's OS user."""
    from vedder.ask import ask

    with warehouses.borrow(project.config) as warehouse:
        return ask(project, question, cluster_id=cluster_id, continue_id=conversation_id, model=model,
                   surface=surface, user=user, warehouse=warehouse, on_step=on_step, asker_known=not shared)


def plain(value: Any) -> Any:
    """``value`` with dates, decimals and other warehouse types as JSON-safe values; a float that is not a number
    (DuckDB's 0.0/0) or infinite as the text "NaN", "Infinity" or "-Infinity", which no JSON parser refuses.

    >>> plain([float("nan"), float("-inf"), 1.5])
    ['NaN', '-Infinity', 1.5]
    """
    from vedder.warehouse import json_safe

    return json_safe(value)


def listen_error(host: str, port: int, exc: OSError) -> UsageError:
    """Why a server cannot listen on ``host:port``, with what to do about it."""
    if isinstance(exc, socket.gaierror):
        return UsageError(f"cannot listen on {host}: {exc.strerror}", "pass --host an address of this machine (default 127.0.0.1)")
    return UsageError(f"cannot listen on {host}:{port}: {exc.strerror}", "pick another port with --port N")


def check_port(host: str, port: int) -> None:
    """Raise ``listen_error`` now when ``host:port`` is taken, before a slow start-up would hide it."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise listen_error(host, port, exc) from None


def warn_if_public(host: str, token: bool = False) -> None:
    """A server that answers beyond this machine says so: anyone who reaches it can query the warehouse (with a
    token: anyone who reads it on the way, plain HTTP carries it in clear)."""
    if host in LOCAL_HOSTS:
        return
    if token:
        print(f"warning: listening on {host} over plain HTTP; the token crosses the network in clear (put a TLS proxy in front)",
              file=sys.stderr)
    else:
        print(f"warning: listening on {host} without authentication; anyone who can reach it can query the warehouse",
              file=sys.stderr)
