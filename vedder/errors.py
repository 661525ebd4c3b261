"""Typed user errors. Each carries a one-line message, a hint and an exit code.

The CLI (and every other surface) turns a ``VedderError`` into ``error: <message>`` plus
``hint: <hint>``; anything else is a bug and gets a traceback only with ``--debug``.
"""

from __future__ import annotations


class VedderError(Exception):
    """Base class for problems the user can fix."""

    exit_code = 1
    default_hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def to_dict(self) -> dict:
        return {"error": type(self).__name__, "message": self.message, "hint": self.hint}


class ProjectNotFound(VedderError):
    exit_code = 2
    default_hint = "run inside a vedder project (a folder with vedder.yaml), or pass --project PATH"


class ConfigError(VedderError):
    exit_code = 2
    default_hint = "fix vedder.yaml; `vedder validate` lists every problem"


class ProjectFileError(VedderError):
    """A cluster file cannot be read at all (bad YAML, wrong top-level type)."""

    exit_code = 2
    default_hint = "run `vedder validate` to see every problem with file and line"


class ClusterNotFound(VedderError):
    exit_code = 2
    default_hint = "`vedder clusters` lists the clusters of this project"


class TableNotFound(VedderError):
    exit_code = 2
    default_hint = "check the table name; `vedder clusters` and the dataset files list the known tables"


class WarehouseError(VedderError):
    exit_code = 3
    default_hint = "check `warehouse` in vedder.yaml (or VEDDER_WAREHOUSE); `vedder demo` builds the demo warehouse"


class SQLRefused(VedderError):
    """The SQL guard refused a statement. ``rule`` names the rule that refused it."""

    exit_code = 4

    def __init__(self, rule: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"SQL refused ({rule}): {message}", hint or "only single read-only queries on the cluster's tables are allowed")
        self.rule = rule

    def to_dict(self) -> dict:
        return {**super().to_dict(), "rule": self.rule}


class SQLExecutionError(VedderError):
    exit_code = 4
    default_hint = "check table and column names against the dataset files"


class QueryTimeout(SQLExecutionError):
    default_hint = "the query was interrupted; narrow it (filters, LIMIT) or raise query.timeout_s in vedder.yaml"


class ResultTooLarge(SQLExecutionError):
    default_hint = "select fewer or narrower columns, or aggregate; query.max_result_mb in vedder.yaml sets the budget"


class ModelError(VedderError):
    exit_code = 5
    default_hint = "check --model / VEDDER_MODEL and the provider's API key; `model: offline` answers from vetted pairs"


class GitError(VedderError):
    exit_code = 6
    default_hint = "check that the project is a git repository with an `origin` remote"


class PullRequestError(VedderError):
    exit_code = 6
    default_hint = "set GITHUB_TOKEN (and GITHUB_REPOSITORY), install `gh`, or use --no-pr"


class UsageError(VedderError):
    exit_code = 2


class FileAccessError(VedderError):
    """The operating system refused to write a project file (read-only folder, permissions, full disk)."""

    exit_code = 2
    default_hint = "check the folder's permissions (or that it is not mounted read-only) and free disk space"


class LogError(VedderError):
    """The conversation log cannot be opened or written (an unwritable folder, a path under a file)."""

    exit_code = 2
    default_hint = "check `log` in vedder.yaml (or VEDDER_LOG): it must be a file in a folder you can write"


class InternalError(VedderError):
    """Something vedder did not expect (a bug): one line on the terminal, the traceback with ``--debug``."""

    exit_code = 70  # EX_SOFTWARE
    default_hint = "this is a bug in vedder, not in your input: `vedder --debug …` shows the traceback; please report it"

    @classmethod
    def of(cls, exc: BaseException) -> "InternalError":
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        return cls(f"internal error: {type(exc).__name__}" + (f": {detail}" if detail else ""))
