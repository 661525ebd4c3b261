"""Reading and writing the project's files: YAML with source positions, atomic writes.

>>> doc = load_yaml_text("a:\\n  b: 1\\n", "x.yaml")
>>> doc.data, doc.position("/a/b")
({'a': {'b': 1}}, (2, 3))
"""

from __future__ import annotations

import os
from functools import lru_cache
import tempfile

from pathlib import Path
from typing import Any, Callable

from vedder.errors import ProjectFileError, VedderError


class YamlDocument:
    """Parsed YAML plus the 1-based (line, column) of every JSON pointer in it.

    ``packed`` positions ({pointer: [line, column]}, as the parse cache keeps them) become tuples on first use:
    most documents are loaded for their data, and only validation and fixes ask where things are.
    """

    def __init__(self, path: Path, data: Any, positions: dict[str, tuple[int, int]] | None = None,
                 *, packed: dict[str, list[int]] | None = None) -> None:
        self.path, self.data = path, data
        self._positions, self._packed = positions, packed

    @property
    def positions(self) -> dict[str, tuple[int, int]]:
        if self._positions is None:
            self._positions = {p: (v[0], v[1]) for p, v in (self._packed or {}).items()}
            self._packed = None
        return self._positions

    @positions.setter
    def positions(self, value: dict[str, tuple[int, int]]) -> None:
        self._positions, self._packed = value, None

    def position(self, pointer: str) -> tuple[int, int]:
        """Position of ``pointer``, or of its nearest ancestor that has one."""
        while pointer not in self.positions and pointer:
            pointer = pointer.rsplit("/", 1)[0]
        return self.positions.get(pointer, (1, 1))


def escape_pointer(token: str) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


class DuplicateKey(Exception):
    def __init__(self, key: str, position: tuple[int, int], first_line: int) -> None:
        super().__init__(key)
        self.key, self.position, self.first_line = key, position, first_line


def _record_positions(node: "yaml.Node", pointer: str, positions: dict[str, tuple[int, int]]) -> None:
    import yaml

    positions[pointer] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = f"{pointer}/{escape_pointer(key_node.value)}"
            if child in positions:  # YAML keeps the last silently: a hand edit would lose the first
                line, column = positions[child]
                raise DuplicateKey(key_node.value, (key_node.start_mark.line + 1, key_node.start_mark.column + 1), line)
            _record_positions(value_node, child, positions)
            positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_positions(item, f"{pointer}/{index}", positions)


@lru_cache(maxsize=None)
def _loader() -> type:
    """SafeLoader (libyaml's, ~8x faster, when present) that keeps dates as ISO strings, so files round-trip as
    written. Built on first use: yaml is imported only when something is parsed or written (a command whose files
    all come from the parse cache never imports it)."""
    import yaml

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        pass

    Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))
    return Loader


def _syntax_hint(text: str, mark: Any) -> str:
    """What to do about a YAML syntax error at ``mark``: a tab where YAML wants spaces says so."""
    lines = text.splitlines()
    if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line][:mark.column + 1]:
        return "YAML indents with spaces, never tabs: replace the tab at that line with spaces"
    return "fix the YAML syntax at that line"


def load_yaml_text(text: str, path: str | Path) -> YamlDocument:
    """Parse YAML text; raise ProjectFileError with file:line:column on a syntax error."""
    import yaml

    path = Path(path)
    loader = _loader()(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProjectFileError(f"{where}: invalid YAML: {problem}", _syntax_hint(text, mark)) from None
    finally:
        loader.dispose()
    positions: dict[str, tuple[int, int]] = {}
    if node is not None:
        try:
            _record_positions(node, "", positions)
        except DuplicateKey as exc:
            problem = f"key '{exc.key}' appears twice (also on line {exc.first_line})"
            error = ProjectFileError(f"{path}:{exc.position[0]}:{exc.position[1]}: invalid YAML: {problem}",
                                     "keep one of them: YAML would silently use the last")
            error.position, error.problem = exc.position, problem
            raise error from None
    return YamlDocument(path=path, data=data, positions=positions)


def read_text(path: Path, error: type[VedderError] = ProjectFileError, hint: str | None = None) -> str:
    """The UTF-8 text of ``path`` without a leading byte order mark (Notepad, Excel's 'CSV UTF-8'); an unreadable
    or non-UTF-8 file raises ``error`` (one line, with hint)."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}", hint) from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start})", hint or "save the file as UTF-8") from None


def read_jsonl(path: Path, error: type[VedderError], hint: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSONL file; a line that is not an object raises."""
    import json

    objects = []
    for number, line in enumerate(read_text(path, error, hint).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{path}:{number}: not JSON: {exc.msg}", hint) from None
        if not isinstance(data, dict):
            raise error(f"{path}:{number}: expected a JSON object", hint)
        objects.append((number, data))
    return objects


def load_yaml(path: Path, cache: "ParseCache | None" = None) -> YamlDocument:
    if cache is not None:
        return cache.document(path, lambda text: load_yaml_text(text, path))
    return load_yaml_text(read_text(path), path)


def read_cache(path: Path, version: int, key: str) -> dict[str, Any]:
    """The mapping under ``key`` in the JSON cache at ``path`` written by ``version``; {} when the file is missing,
    unreadable, of another version or of another shape (a cache only ever costs speed)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        found = data[key] if data.get("version") == version else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return found if isinstance(found, dict) else {}


class ParseCache:
    """Parsed YAML documents (data and positions) of unchanged files, kept in a JSON file between runs (one per
    cluster: ``.vedder/clusters/<name>.json``, so loading one cluster reads only its own).

    Parsing the YAML is most of loading a project (0.1 s for the demo's 50 files, 1.5 s for 137 Spider clusters).
    An entry holds the digest of the text it was parsed from, and the file's stat (size, mtime, ctime, inode) when
    that digest was last checked. A file whose stat is unchanged and whose last change came well before that check
    is not even read; any other file is read, and parsed only when its digest differs. So neither an edit within
    one mtime tick nor a restore that puts an old mtime back (cp -p, rsync -a, tar) is served stale: the first
    is too recent to trust the stat, the second changes the ctime. Only documents that JSON holds exactly are
    kept (anything else is parsed every time). ``save`` writes the entries of the files this run asked for —
    stale ones drop out — and never fails a command: a cache that cannot be read or written is ignored.
    ``stamps`` (by path as text) are stats the caller took already (``project.model.scan_cluster``).
    """

    VERSION = 3
    SETTLED_NS = 2_000_000_000
    """How long before a check a file's last change must be to trust its stat (FAT keeps mtimes to 2 s)."""

    def __init__(self, path: Path, stamps: dict[str, list[int] | None] | None = None) -> None:
        import hashlib
        import json

        self.path, self._json, self._hashlib = path, json, hashlib
        self.stamps = stamps or {}
        self.used: dict[str, list] = {}
        self.changed = False
        self.entries: dict[str, list] = read_cache(path, self.VERSION, "files")

    def document(self, path: Path, parse: "Callable[[str], YamlDocument]", text: str | None = None) -> YamlDocument:
        """The document ``parse`` makes of ``text`` (default: the text of ``path``), from the cache when unchanged."""
        import time

        key = str(path)
        entry = self.entries.get(key)
        if not (isinstance(entry, list) and len(entry) == 5 and isinstance(entry[2], dict)):
            entry = None
        stamp = self._stamp(key) if text is None else None
        if entry is not None and stamp is not None and entry[3] == stamp and isinstance(entry[4], int) \
                and stamp[2] < entry[4] - self.SETTLED_NS:
            self.used[key] = entry
            return YamlDocument(Path(path), entry[1], packed=entry[2])
        checked = time.time_ns()
        if text is None:
            text = read_text(path)
        digest = self._hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        if entry is not None and entry[0] == digest:
            if stamp is not None:  # checked again now: next time its stat may be enough
                entry, self.changed = [digest, entry[1], entry[2], stamp, checked], True
            self.used[key] = entry
            return YamlDocument(Path(path), entry[1], packed=entry[2])
        document = parse(text)
        try:
            cached = self._json.dumps(document.data, ensure_ascii=False, allow_nan=False)
        except (ValueError, TypeError):
            return document  # e.g. NaN or a binary value: parsed every time
        restored = self._json.loads(cached)
        if restored == document.data:
            packed = {p: list(v) for p, v in document.positions.items()}
            self.used[key] = [digest, restored, packed, stamp, checked]
            self.changed = True
        return document

    def _stamp(self, key: str) -> list[int] | None:
        if key in self.stamps:
            return self.stamps[key]
        try:
            status = os.stat(key)
        except OSError:
            return None
        return [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino]

    def save(self) -> None:
        """Write the entries used by this run; call it before anything changes the documents' data."""
        if not self.changed and len(self.used) == len(self.entries):
            return
        try:
            atomic_write(self.path, self._json.dumps({"version": self.VERSION, "files": self.used}, separators=(",", ":")),
                         durable=False)
        except (OSError, VedderError):
            pass  # a read-only checkout still loads; it just parses again next time


@lru_cache(maxsize=None)
def _dumper() -> type:
    """Block-style YAML with multi-line strings as literal blocks (readable SQL in pairs)."""
    import yaml

    def represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        if style:
            value = "\n".join(line.rstrip() for line in value.splitlines()) + "\n"
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(str, represent_str)
    return Dumper


def dump_yaml(data: Any, schema_url: str | None = None) -> str:
    """YAML text for ``data``, keys in insertion order, optionally with a yaml-language-server header."""
    import yaml

    body = yaml.dump(data, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=100)
    header = f"# yaml-language-server: $schema={schema_url}\n" if schema_url else ""
    return header + body


def _read_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# Read once at import: os.umask can only be read by setting it, which would race with writer threads.
_UMASK = _read_umask()


def new_file_mode() -> int:
    """The mode a new file gets (0666 minus the umask), for files made through a temporary file (mkstemp's 0600)."""
    return 0o666 & ~_UMASK


def atomic_write(path: Path, text: str, *, durable: bool = True) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    The file keeps the mode it had (a new one gets the usual 0666 minus umask, not mkstemp's 0600). ``durable``
    False skips the fsync, for caches: one lost in a crash is rebuilt (a first run on 1,000 clusters wrote 1,000
    parse caches, and their fsyncs cost seconds).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def split_front_matter(text: str) -> tuple[str | None, str, int]:
    """Split Markdown into (front matter YAML or None, body, line where the body starts)."""
    if text.startswith("---\n") or text.startswith("---\r\n"):
        lines = text.splitlines(keepends=True)
        for index in range(1, len(lines)):
            if lines[index].strip() == "---":
                return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    return None, text, 1
