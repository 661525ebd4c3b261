"""``vedder init``: start a vedder project in a folder — vedder.yaml, clusters/, schemas/, .gitignore.

The JSON Schemas are copied into ``schemas/`` so editors with yaml-language-server validate cluster files
as people type (the files vedder writes point at them); ``.vedder/`` (warehouse caches, the conversation
log) is kept out of git. Nothing that exists is overwritten except vedder's own schema copies.

>>> print(config_text("warehouse.duckdb").splitlines()[4])
  path: warehouse.duckdb

A PostgreSQL ``--warehouse postgresql://…`` is written as ``type: postgres`` with its URL, never with a
password: vedder.yaml is meant for git, so one in the URL is left out (libpq reads PGPASSWORD or ~/.pgpass,
or ``warehouse.password_env`` names a variable: ``--password-env NAME`` writes it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vedder.config import CONFIG_FILE, is_postgres_url
from vedder.errors import UsageError
from vedder.files import atomic_write

DEFAULT_WAREHOUSE = ".vedder/warehouse.duckdb"
IGNORED = ".vedder/"


def yaml_scalar(value: str) -> str:
    """``value`` as it goes after ``key:`` in YAML: plain when YAML reads it back unchanged, else double-quoted.

    >>> yaml_scalar("wh.duckdb"), yaml_scalar("wh #2.duckdb")
    ('wh.duckdb', '"wh #2.duckdb"')
    """
    import json

    import yaml

    try:
        plain = yaml.safe_load(f"key: {value}") == {"key": value}
    except yaml.YAMLError:
        plain = False
    return value if plain else json.dumps(value, ensure_ascii=False)


def without_password(url: str) -> tuple[str, bool]:
    """``url`` without the password of its user part or a ``password=`` parameter, and whether it had one.

    >>> without_password("postgresql://ana:pw@db:5432/analytics?sslmode=require&password=pw")
    ('postgresql://ana@db:5432/analytics?sslmode=require', True)
    """
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here, not later in libpq
    except ValueError as exc:
        raise UsageError(f"invalid PostgreSQL URL: {exc}", "write it as postgresql://user@host:5432/dbname") from None
    netloc, had = parts.netloc, False
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        if ":" in credentials:
            netloc, had = f"{credentials.split(':', 1)[0]}@{host}", True
    parameters = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(key, value) for key, value in parameters if key.lower() != "password"]
    had = had or len(kept) < len(parameters)
    query = urlencode(kept) if len(kept) < len(parameters) else parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)), had


def _warehouse_text(warehouse: str, password_env: str | None = None) -> str:
    """The ``warehouse:`` and ``dialect:`` settings of a new vedder.yaml: a DuckDB file or a PostgreSQL URL."""
    if is_postgres_url(warehouse):
        if password_env:
            where, password = "vedder reads it from the variable password_env names; VEDDER_WAREHOUSE overrides the url", f"  password_env: {password_env}\n"
        else:
            where, password = "libpq reads PGPASSWORD or ~/.pgpass, or add `password_env: VARIABLE`; VEDDER_WAREHOUSE overrides it", ""
        return f"""warehouse:
  type: postgres
  # no password here: {where}
  url: {yaml_scalar(warehouse)}
{password}dialect: postgres
"""
    return f"""warehouse:
  type: duckdb
  # relative to this file; VEDDER_WAREHOUSE overrides it
  path: {yaml_scalar(warehouse)}
dialect: duckdb
"""


def config_text(warehouse: str, model: str = "offline", password_env: str | None = None) -> str:
    """The commented vedder.yaml of a new project."""
    model = yaml_scalar(model)
    return f"""# vedder project settings (`vedder init --help`; every key is described in schemas/vedder.schema.json)
{_warehouse_text(warehouse, password_env)}# any litellm model string (gpt-4o-mini, ollama_chat/llama3.1, ...); offline answers from vetted pairs only
model: {model}
# every conversation, for `vedder log` and `vedder health`
log: .vedder/log.sqlite
context:
  token_budget: 6000
agent:
  max_steps: 8
query:
  row_limit: 1000
  timeout_s: 30
health:
  fail_under: 70
"""


@dataclass
class InitResult:
    root: Path
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # How a PostgreSQL warehouse gets its password, to do before the first command that connects.
    password_step: str | None = None

    def to_dict(self) -> dict:
        return {"root": str(self.root), "created": self.created, "updated": self.updated, "warnings": self.warnings,
                "password_step": self.password_step}


def _password_step(password_env: str | None) -> str:
    """What to do so that vedder can log in: the variable ``password_env`` names, else libpq's own sources."""
    if password_env:
        return f"export {password_env}=… (the warehouse password; vedder.yaml names the variable, never the password)"
    return "export PGPASSWORD=… or add the password to ~/.pgpass (or init with --password-env VARIABLE)"


def init_project(root: Path, *, warehouse: str | None = None, model: str = "offline", password_env: str | None = None) -> InitResult:
    """Make ``root`` a vedder project; a UsageError when it already is one or is not a folder.

    ``password_env`` (PostgreSQL only) names the environment variable vedder reads the password from."""
    from vedder.schemas import SCHEMA_DIR

    root = Path(root).resolve()
    in_the_way = next((p for p in (root, *root.parents) if p.exists() and not p.is_dir()), None)
    if in_the_way is not None:
        raise UsageError(f"{in_the_way} is a file, not a folder", "pass the folder to make a vedder project, e.g. vedder init my-project")
    if (root / CONFIG_FILE).exists():
        raise UsageError(f"{root / CONFIG_FILE} already exists", "this folder is already a vedder project: edit vedder.yaml, or init another folder")
    if not model.strip():
        raise UsageError("the model is empty", "leave --model out to answer offline, or pass a litellm model string")
    if password_env is not None and not is_postgres_url(warehouse or ""):
        raise UsageError("--password-env is for a PostgreSQL warehouse", "pass --warehouse postgresql://user@host:5432/db with it, or leave it out")
    if password_env is not None and not (password_env.isascii() and password_env.isidentifier()):
        # Not echoed: a value that is no variable name may be the password itself.
        raise UsageError("--password-env takes the name of an environment variable, not a password",
                         "name the variable, not the password: letters, digits and _, e.g. --password-env ANALYTICS_PG_PASSWORD")
    for folder in (root / "clusters", root / "schemas"):
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{folder} is a file, not a folder", "move it out of the way, or init another folder")
    result = InitResult(root)
    warehouse = warehouse or DEFAULT_WAREHOUSE
    typed = Path(warehouse).expanduser()
    if is_postgres_url(warehouse):
        warehouse, had_password = without_password(warehouse)
        if had_password:
            result.warnings.append("the password in the warehouse URL is not written to vedder.yaml (it is meant for git): "
                                   + (f"export {password_env}" if password_env else
                                      "export PGPASSWORD, use ~/.pgpass, or set `password_env: VARIABLE` under `warehouse:`"))
        result.password_step = _password_step(password_env)
    elif not typed.is_absolute() and not (root / typed).is_file() and typed.resolve().is_file():
        # A path typed from the shell's folder (tab completion gives those): vedder.yaml resolves it from its own.
        try:
            warehouse = os.path.relpath(typed.resolve(), root)
        except ValueError:  # another drive than the project's (Windows): only an absolute path reaches it
            warehouse = str(typed.resolve())
        result.warnings.append(f"{typed} is relative to {Path.cwd()}: vedder.yaml has it relative to itself, {warehouse}")
    elif warehouse != DEFAULT_WAREHOUSE and not (root / warehouse).is_file():
        result.warnings.append(f"no warehouse at {warehouse} yet: create it, or point `warehouse.path` in vedder.yaml at one")
    try:
        if not (root / "clusters").is_dir():
            atomic_write(root / "clusters" / ".gitkeep", "")
            result.created.append("clusters/")
        for source in sorted(SCHEMA_DIR.glob("*.schema.json")):  # every file kind's, and `ask --json`'s answer
            target = root / "schemas" / source.name
            text = source.read_text(encoding="utf-8")
            if not target.is_file():
                result.created.append(f"schemas/{source.name}")
            elif target.read_text(encoding="utf-8", errors="replace") != text:
                result.updated.append(f"schemas/{source.name}")
            else:
                continue
            atomic_write(target, text)
        ignore = root / ".gitignore"
        existing = ignore.read_text(encoding="utf-8", errors="replace") if ignore.is_file() else ""
        if not {".vedder", ".vedder/", "/.vedder", "/.vedder/", ".vedder/*", "/.vedder/*"} & set(existing.split()):
            atomic_write(ignore, existing + ("" if not existing or existing.endswith("\n") else "\n") + IGNORED + "\n")
            (result.updated if existing else result.created).append(".gitignore")
        # Last: a run that fails before this point leaves no vedder.yaml, so running init again finishes the job.
        atomic_write(root / CONFIG_FILE, config_text(warehouse, model.strip(), password_env))
        result.created.insert(0, CONFIG_FILE)
    except OSError as exc:
        raise UsageError(f"cannot write in {root}: {(exc.strerror or str(exc)).lower()}", "pick a folder you can write to") from None
    return result
