"""Noticing edits to a project without a stat of every file: inotify on Linux, through ctypes on libc.

``ProjectEvents`` watches the folders whose files ``scan_project`` and ``load_config`` read — the project root (for
``vedder.yaml`` and ``clusters/`` itself), ``clusters/``, each cluster folder (its ``cluster.yaml`` and its
``datasets``, ``pairs`` and ``docs`` folders) and those three folders — and ``changes()`` says, from a non-blocking
read of the events since the last call, what may have changed: ``vedder.yaml``, which cluster folders, or
everything (the kernel's queue overflowed). A server then scans only those clusters (``vedder.serving``).

Where events cannot be trusted, ``ProjectEvents.start`` returns None and the caller stats every file as before: not
Linux; no inotify instance or watch to be had (``max_user_instances``, ``max_user_watches``: ENOSPC); a network
file system (NFS, SMB, FUSE, 9p: another machine's edits send no event here); a folder on another device (a mount
inside the project); or a symbolic link among the watched folders or ``vedder.yaml`` (an edit through the link's
target is an event in another folder). Files linked from elsewhere (``ClusterFiles.linked``) are the caller's to
refuse, as it scans them. Writes through a shared memory map send no event either; editors and git do not use them.

An event is queued by the kernel before the write that caused it returns, so a request made after an edit finds it.
Watches are added before the scan they guard: a folder made before its watch is seen by that scan, a change after
it is an event.

>>> Changes().merge(Changes(clusters={"a"})).clusters
{'a'}
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import stat
import struct
import sys
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from vedder.config import CONFIG_FILE

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_UNMOUNT, IN_Q_OVERFLOW, IN_IGNORED = 0x400, 0x800, 0x2000, 0x4000, 0x8000
IN_ONLYDIR = 0x01000000
FOLDER_EVENTS = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
                 | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
"""Every change to a file in a folder (content, stat, name) and to the folder itself."""
GONE = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT
ARRIVED = IN_CREATE | IN_MOVED_TO
EVENT = struct.Struct("iIII")
"""struct inotify_event: wd, mask, cookie, len; then len bytes of NUL-padded name."""

KINDS = {"datasets": ".yaml", "pairs": ".yaml", "docs": ".md"}
"""The folders of a cluster that ``scan_cluster`` lists, and the files in them it reads."""

REMOTE_FILE_SYSTEMS = {
    0x6969: "NFS", 0x517B: "SMB", 0xFF534D42: "CIFS", 0xFE534D42: "SMB2", 0x65735546: "FUSE", 0x01021997: "9p",
    0x73757245: "Coda", 0x5346414F: "AFS", 0x6B414653: "kAFS", 0x00C36400: "Ceph", 0x7461636F: "OCFS2",
    0x01161970: "GFS2", 0x0BD00BD0: "Lustre", 0x786F4256: "vboxsf",
}
"""statfs f_type of file systems whose files another machine may change without an event here."""


class Unwatchable(Exception):
    """Why the project cannot be watched (the caller stats every file instead)."""


@dataclass
class Changes:
    """What may have changed since the last ``ProjectEvents.changes()``: ``vedder.yaml``, cluster folders by name,
    or ``everything`` (events were lost)."""

    config: bool = False
    clusters: set[str] = field(default_factory=set)
    everything: bool = False

    def merge(self, other: "Changes") -> "Changes":
        self.config |= other.config
        self.clusters |= other.clusters
        self.everything |= other.everything
        return self


class _Inotify:
    """One inotify instance: a non-blocking file descriptor, closed when this object goes."""

    def __init__(self) -> None:
        if not sys.platform.startswith("linux"):
            raise Unwatchable(f"no inotify on {sys.platform}")
        name = ctypes.util.find_library("c") or "libc.so.6"
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            self._add, self._remove, self._statfs = libc.inotify_add_watch, libc.inotify_rm_watch, libc.statfs
        except (OSError, AttributeError) as exc:
            raise Unwatchable(f"no inotify in {name}: {exc}") from None
        self._add.argtypes, self._add.restype = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32], ctypes.c_int
        self._remove.argtypes, self._remove.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        self._statfs.argtypes, self._statfs.restype = [ctypes.c_char_p, ctypes.c_void_p], ctypes.c_int
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            if code == errno.EMFILE:
                raise Unwatchable("out of inotify instances (raise fs.inotify.max_user_instances, e.g. `sysctl "
                                  "fs.inotify.max_user_instances=1024`)")
            raise Unwatchable(f"inotify_init1: {os.strerror(code)}")
        self.fd = fd
        self._closer = weakref.finalize(self, os.close, fd)

    def add_watch(self, path: str, mask: int) -> int:
        wd = self._add(self.fd, os.fsencode(path), mask)
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), path)
        return wd

    def rm_watch(self, wd: int) -> None:
        self._remove(self.fd, wd)  # a watch the kernel removed already (its folder deleted) fails: nothing to do

    def file_system(self, path: str) -> int:
        """statfs(path).f_type: the first field of struct statfs on Linux."""
        buffer = ctypes.create_string_buffer(512)
        if self._statfs(os.fsencode(path), buffer) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), path)
        return ctypes.c_ulong.from_buffer(buffer).value & 0xFFFFFFFF

    def read(self) -> bytes:
        """Every event queued now (b"" when none): non-blocking reads until the queue is empty."""
        chunks = []
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self._closer()


class ProjectEvents:
    """inotify watches on the folders of the project at ``root`` (see the module), and what their events say changed.

    ``changes()`` raises ``Unwatchable`` (or OSError) when watching stopped working: the root or its ``vedder.yaml``
    became a link, a new folder cannot be watched (ENOSPC), the project moved or its file system went away. The
    caller then stops watching and stats every file, as without a watcher.
    """

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.clusters = f"{self.root}/clusters"
        self._inotify = _Inotify()
        self._where: dict[int, tuple[str, str]] = {}
        """Each watch: ("root", ""), ("clusters", ""), ("cluster", name) or (kind, name) for a cluster's kind folder."""
        self._paths: dict[str, int] = {}
        self._path_of: dict[int, str] = {}
        try:
            kind = self._inotify.file_system(self.root)
            if kind in REMOTE_FILE_SYSTEMS:
                raise Unwatchable(f"{self.root} is on {REMOTE_FILE_SYSTEMS[kind]}: edits from elsewhere send no event")
            self._device = os.stat(self.root).st_dev
            self._watch_all()
        except BaseException:
            self.close()
            raise

    @classmethod
    def start(cls, root: Path) -> "ProjectEvents | str":
        """Watches on the project at ``root``, or why there can be none (the caller stats every file)."""
        try:
            return cls(root)
        except Unwatchable as exc:
            return str(exc)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                return ("out of inotify watches (raise fs.inotify.max_user_watches, e.g. `sysctl "
                        "fs.inotify.max_user_watches=524288`)")
            return f"cannot watch {exc.filename or root}: {exc.strerror}"

    def close(self) -> None:
        self._inotify.close()

    def changes(self) -> Changes:
        """What may have changed since the last call (an empty ``Changes`` when no event arrived)."""
        return self._changes_in(self._inotify.read())

    def _changes_in(self, events: bytes) -> Changes:
        found = Changes()
        offset = 0
        while offset < len(events):
            wd, mask, _cookie, size = EVENT.unpack_from(events, offset)
            name = events[offset + EVENT.size:offset + EVENT.size + size].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            offset += EVENT.size + size
            if mask & IN_Q_OVERFLOW:
                self._watch_all()  # a folder made while events were lost has no watch yet
                found.everything = True
                continue
            where = self._where.get(wd)
            if where is None:
                continue  # a folder forgotten already (moved away or deleted): its events are not the project's
            if mask & IN_IGNORED:
                self._forget(wd)
                continue
            self._event(where, mask, name, found)
        return found

    def _event(self, where: tuple[str, str], mask: int, name: str, found: Changes) -> None:
        level, cluster = where
        if mask & GONE:
            if level in ("root", "clusters"):
                if level == "root":
                    raise Unwatchable(f"{self.root} moved or went away")
                found.everything = True
            else:
                found.clusters.add(cluster)
            return
        if level == "root":
            if name == CONFIG_FILE:
                found.config = True
                if mask & ARRIVED:
                    self._refuse_link(f"{self.root}/{name}")
            elif name == "clusters":
                found.everything = True
                self._folder_moved(self.clusters, mask, self._watch_all)
        elif level == "clusters":
            found.clusters.add(name)
            self._folder_moved(f"{self.clusters}/{name}", mask, lambda: self._watch_cluster(name))
        elif level == "cluster":
            if name == "cluster.yaml" or name in KINDS:
                found.clusters.add(cluster)
                if name in KINDS:
                    self._folder_moved(f"{self.clusters}/{cluster}/{name}", mask, lambda: self._watch_kind(cluster, name))
                elif name == "cluster.yaml" and mask & ARRIVED:
                    self._refuse_link(f"{self.clusters}/{cluster}/{name}")
        elif name.endswith(KINDS[level]):
            found.clusters.add(cluster)

    def _folder_moved(self, path: str, mask: int, watch) -> None:
        """An entry at ``path`` made, moved in or moved away: forget the watches on and under it when it moved away (a
        deleted folder's watches go by themselves: IN_IGNORED), and watch it (``watch``) when it arrived (a link is
        refused there, a file is not watched)."""
        if mask & IN_MOVED_FROM:
            for known in [p for p in self._paths if p == path or p.startswith(path + "/")]:
                wd = self._paths.pop(known)
                self._where.pop(wd, None)
                self._path_of.pop(wd, None)
                self._inotify.rm_watch(wd)
        if mask & ARRIVED:
            watch()

    def _watch_all(self) -> None:
        """Watch the root, ``clusters/`` and every cluster folder in it (again: a watch that exists is kept)."""
        self._refuse_link(f"{self.root}/{CONFIG_FILE}")
        self._add(self.root, ("root", ""))
        try:
            if stat.S_ISLNK(os.lstat(self.clusters).st_mode):
                raise Unwatchable(f"{self.clusters} is a symbolic link")
            self._add(self.clusters, ("clusters", ""))
            with os.scandir(self.clusters) as entries:
                names = [entry.name for entry in entries if entry.is_dir(follow_symlinks=False) or entry.is_symlink()]
                # a link, even to a file, is refused by _add: it may point to a cluster folder elsewhere
        except (FileNotFoundError, NotADirectoryError):
            return  # no clusters/ yet: the root's watch sees it made
        for name in names:
            self._watch_cluster(name)

    def _watch_cluster(self, name: str) -> None:
        folder = f"{self.clusters}/{name}"
        if not self._add(folder, ("cluster", name)):
            return
        try:
            with os.scandir(folder) as entries:
                found = [(entry.name, entry.is_symlink(), entry.is_dir(follow_symlinks=False)) for entry in entries
                         if entry.name == "cluster.yaml" or entry.name in KINDS]
        except (FileNotFoundError, NotADirectoryError):
            return  # gone again: its parent's watch has the event
        for entry, link, folder_kind in found:
            if link:
                raise Unwatchable(f"{folder}/{entry} is a symbolic link")
            if folder_kind:
                self._watch_kind(name, entry)

    def _watch_kind(self, name: str, kind: str) -> None:
        self._add(f"{self.clusters}/{name}/{kind}", (kind, name))

    def _add(self, path: str, where: tuple[str, str]) -> bool:
        """Watch the folder at ``path``; False when it is no folder (any more): its parent's events tell."""
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        if stat.S_ISLNK(info.st_mode):
            raise Unwatchable(f"{path} is a symbolic link")
        if not stat.S_ISDIR(info.st_mode):
            return False
        if info.st_dev != self._device:
            raise Unwatchable(f"{path} is on another file system than the project")
        try:
            wd = self._inotify.add_watch(path, FOLDER_EVENTS)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return False
            raise
        earlier = self._path_of.get(wd)
        if earlier is not None and earlier != path:
            if os.path.exists(earlier) and os.path.samefile(earlier, path):
                raise Unwatchable(f"{path} is reached by two names (a bind-mounted folder)")
            if self._paths.get(earlier) == wd:  # the folder moved here from there
                del self._paths[earlier]
        self._where[wd], self._paths[path], self._path_of[wd] = where, wd, path
        return True

    def _forget(self, wd: int) -> None:
        self._where.pop(wd, None)
        path = self._path_of.pop(wd, None)
        if path is not None and self._paths.get(path) == wd:
            del self._paths[path]

    def _refuse_link(self, path: str) -> None:
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                raise Unwatchable(f"{path} is a symbolic link")
        except (FileNotFoundError, NotADirectoryError):
            pass
