"""Project discovery and configuration: ``vedder.yaml`` plus environment overrides.

>>> Config.from_dict(Path("/p"), {"model": "gpt-4o-mini"}).model
'gpt-4o-mini'
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vedder.errors import ConfigError, ProjectNotFound

CONFIG_FILE = "vedder.yaml"
OFFLINE = "offline"

DEFAULT_HEALTH_WEIGHTS = {
    "pair_validity": 0.25,
    "pair_execution": 0.15,
    "schema_drift": 0.15,
    "data_health": 0.10,
    "coverage": 0.15,
    "reproducibility": 0.10,
    "curation_freshness": 0.10,
}


@dataclass(frozen=True)
class Config:
    """Everything a command needs to know about the project, resolved to absolute paths."""

    root: Path
    warehouse_type: str = "duckdb"
    warehouse_path: Path | None = None
    warehouse_url: str | None = None
    warehouse_password_env: str | None = None
    warehouse_connect_timeout_s: float = 10.0
    dialect: str = "duckdb"
    model: str = OFFLINE
    model_options: dict[str, Any] = field(default_factory=dict)
    log_path: Path | None = None
    token_budget: int = 6000
    max_steps: int = 8
    vetted_first: bool = True
    """With a model: a question a vetted pair answers (as offline would) is answered from the pair, not the model."""
    row_limit: int = 1000
    timeout_s: float = 30.0
    max_result_mb: float = 64.0
    max_memory_mb: float = 2048.0
    allowed_functions: frozenset[str] = frozenset()
    health_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_HEALTH_WEIGHTS))
    health_fail_under: float = 70.0
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def clusters_dir(self) -> Path:
        return self.root / "clusters"

    @property
    def max_result_bytes(self) -> int:
        """The byte budget of a query's rows (``query.max_result_mb``)."""
        return int(self.max_result_mb * 2**20)

    @property
    def offline(self) -> bool:
        return self.model == OFFLINE

    @classmethod
    def from_dict(cls, root: Path, data: dict[str, Any], env: dict[str, str] | None = None) -> "Config":
        """Build a config from parsed ``vedder.yaml`` data; ``env`` overrides (VEDDER_MODEL, VEDDER_WAREHOUSE)."""
        env = os.environ if env is None else env
        warehouse = data.get("warehouse") or {}
        if isinstance(warehouse, str):
            warehouse = {"type": "duckdb", "path": warehouse}
        if not isinstance(warehouse, dict):
            raise ConfigError(f"{root / CONFIG_FILE}: `warehouse` must be a mapping with `type` and `path`")
        warehouse_type, warehouse_path, warehouse_url = str(warehouse.get("type", "duckdb")), warehouse.get("path"), warehouse.get("url")
        override = env.get("VEDDER_WAREHOUSE")
        if override and is_postgres_url(override):
            warehouse_type, warehouse_url = "postgres", override
        elif override:
            warehouse_type, warehouse_path = "duckdb", override
        path = root / CONFIG_FILE
        context, agent, query, health = (_section(data, name, path) for name in ("context", "agent", "query", "health"))
        try:
            config = cls(
                root=root,
                warehouse_type=warehouse_type,
                warehouse_path=(root / warehouse_path) if warehouse_path and warehouse_type == "duckdb" else None,
                warehouse_url=str(warehouse_url) if warehouse_url else None,
                warehouse_password_env=str(warehouse["password_env"]) if warehouse.get("password_env") else None,
                warehouse_connect_timeout_s=_number(warehouse, "warehouse", "connect_timeout_s", 10.0, float, path),
                dialect=str(data.get("dialect", default_dialect(warehouse_type))),
                model=str(env.get("VEDDER_MODEL") or data.get("model") or OFFLINE),
                model_options=dict(data.get("model_options") or {}),
                log_path=root / str(env.get("VEDDER_LOG") or data.get("log") or ".vedder/log.sqlite"),
                token_budget=_number(context, "context", "token_budget", 6000, int, path),
                max_steps=_number(agent, "agent", "max_steps", 8, int, path),
                vetted_first=_flag(agent, "agent", "vetted_first", True, path),
                row_limit=_number(query, "query", "row_limit", 1000, int, path),
                timeout_s=_number(query, "query", "timeout_s", 30.0, float, path),
                max_result_mb=_number(query, "query", "max_result_mb", 64.0, float, path),
                max_memory_mb=_number(query, "query", "max_memory_mb", 2048.0, float, path),
                allowed_functions=_names(query, "query", "allowed_functions", path),
                health_weights={**DEFAULT_HEALTH_WEIGHTS, **(health.get("weights") or {})},
                health_fail_under=_number(health, "health", "fail_under", 70.0, float, path),
                raw=data,
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{root / CONFIG_FILE}: invalid setting: {exc}") from None
        config.check(root / CONFIG_FILE)
        return config

    def check(self, path: Path) -> None:
        """ConfigError for a setting no command can work with: numbers outside the bounds vedder.schema.json
        gives them (a row limit of 0 returned no rows, a timeout of 0 interrupted every query), an unknown dialect."""
        from vedder.schemas import load_schema

        properties = load_schema("vedder")["properties"]
        for section, key, value in (("query", "row_limit", self.row_limit), ("query", "timeout_s", self.timeout_s),
                                    ("query", "max_result_mb", self.max_result_mb), ("query", "max_memory_mb", self.max_memory_mb),
                                    ("warehouse", "connect_timeout_s", self.warehouse_connect_timeout_s),
                                    ("context", "token_budget", self.token_budget), ("agent", "max_steps", self.max_steps),
                                    ("health", "fail_under", self.health_fail_under)):
            bounds = properties[section]["properties"][key]
            low, high = bounds.get("minimum", bounds.get("exclusiveMinimum")), bounds.get("maximum")
            if value < low or value == bounds.get("exclusiveMinimum") or (high is not None and value > high):
                allowed = f"above {low:g}" if "exclusiveMinimum" in bounds else f"at least {low:g}" + (f" and at most {high:g}" if high else "")
                raise ConfigError(f"{path}: {section}.{key} is {value:g}; it must be {allowed}",
                                  f"fix `{section}: {{{key}: …}}` in vedder.yaml or remove it (default {bounds['default']:g})")
        if not _known_dialect(self.dialect):
            raise ConfigError(f"{path}: unknown SQL dialect '{self.dialect}'",
                              "set `dialect:` to a sqlglot dialect such as duckdb, postgres, snowflake or bigquery")


def is_postgres_url(value: str) -> bool:
    """Whether a warehouse setting (``VEDDER_WAREHOUSE``) is a PostgreSQL connection URL rather than a DuckDB path.

    >>> is_postgres_url("postgresql://me@db:5432/analytics"), is_postgres_url("warehouse.duckdb")
    (True, False)
    """
    return value.startswith(("postgresql://", "postgres://"))


def default_dialect(warehouse_type: str) -> str:
    """The SQL dialect of a warehouse type, when vedder.yaml names none (``dialect:`` wins)."""
    return "postgres" if warehouse_type == "postgres" else "duckdb"


def _section(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    """The ``name:`` mapping of vedder.yaml ({} when absent); anything but a mapping is a ConfigError."""
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: `{name}` must be a mapping of settings, not {value!r}",
                          f"write it as `{name}: {{setting: value}}` (see schemas/vedder.schema.json) or remove it")
    return value


def _number(section: dict[str, Any], name: str, key: str, default: float, kind: type, path: Path) -> Any:
    """``section[key]`` as ``kind`` (int or float); a value that is not such a number names the setting."""
    value = section.get(key, default)
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        number = kind(value)
        if not math.isfinite(number):  # .nan passed every bound check, .inf overflowed the query timeout
            raise ValueError(value)
        return number
    except (TypeError, ValueError):
        expected = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{path}: {name}.{key} is {value!r}; it must be {expected}",
                          f"fix `{name}: {{{key}: …}}` in vedder.yaml or remove it (default {default:g})") from None


def _flag(section: dict[str, Any], name: str, key: str, default: bool, path: Path) -> bool:
    """``section[key]``, true or false; anything else (``"no"`` quoted, 1) names the setting."""
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: {name}.{key} is {value!r}; it must be true or false",
                          f"fix `{name}: {{{key}: …}}` in vedder.yaml or remove it (default {str(default).lower()})")
    return value


def _names(section: dict[str, Any], name: str, key: str, path: Path) -> frozenset[str]:
    """``section[key]``, a list of plain names (functions), lower-cased; anything else names the setting."""
    value = section.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() and "." not in item and "(" not in item for item in value):
        raise ConfigError(f"{path}: {name}.{key} is {value!r}; it must be a list of function names",
                          f"write it as `{name}: {{{key}: [similarity, levenshtein]}}` (names without schema or parentheses) or remove it")
    return frozenset(item.strip().lower() for item in value)


def _known_dialect(dialect: str) -> bool:
    """Whether sqlglot has ``dialect`` (settings after a comma aside), judged from its files: importing sqlglot
    here would slow down commands that never parse SQL."""
    import importlib.util

    name = dialect.split(",")[0].strip()
    spec = importlib.util.find_spec("sqlglot")
    if not name or spec is None or not spec.submodule_search_locations:
        return not name
    return any((Path(folder) / "dialects" / f"{name}.py").is_file() for folder in spec.submodule_search_locations)


def find_project(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` that holds ``vedder.yaml``."""
    if start is not None:
        start = Path(start).resolve()
        if not start.exists():
            raise ProjectNotFound(f"project folder {start} does not exist")
        if start.name == CONFIG_FILE and start.is_file():  # `--project path/to/vedder.yaml` means its folder
            return start.parent
        if (start / CONFIG_FILE).is_file():
            return start
        raise ProjectNotFound(f"no {CONFIG_FILE} in {start}", "pass the folder that holds vedder.yaml (--project), or start a project with `vedder init`")
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ProjectNotFound(f"no {CONFIG_FILE} in {here} or any parent folder")


def load_config(project: Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Find the project from ``project`` (or the current directory upward) and read its config."""
    from vedder.files import ParseCache, load_yaml
    from vedder.project.model import cache_folder

    root = find_project(project)
    # Through its own small parse cache: a command whose files are all cached never imports yaml (~0.03 s).
    cache = ParseCache(cache_folder(root) / "config-cache.json")
    document = load_yaml(root / CONFIG_FILE, cache)
    cache.save()
    data = document.data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{root / CONFIG_FILE}:1:1: vedder.yaml must be a mapping")
    return Config.from_dict(root, data, env)
