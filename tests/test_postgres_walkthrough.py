"""A new user's walk from README.md to a PostgreSQL warehouse: `vedder init` with a postgresql:// URL and the
password the way the README recommends (`--password-env`), and Ctrl-C during a slow query, on the real server
of tests/postgres_server.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from postgres_server import postgres_server  # noqa: F401  (the session fixture)
from vedder.cli import app

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
VEDDER = [sys.executable, "-c", "from vedder.cli import main; main()"]


def vedder(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def readme_line(*words: str) -> str:
    """The one README line holding every word."""
    lines = [line for line in README.splitlines() if all(word in line for word in words)]
    assert len(lines) == 1, lines
    return lines[0]


def test_readme_init_with_password_env_writes_the_config_the_readme_shows(tmp_path):
    command = readme_line("vedder init", "postgresql://", "--password-env").split("#")[0].split()
    shown = yaml.safe_load(readme_line("warehouse: {type: postgres", "password_env"))
    result = vedder("init", str(tmp_path / command[2]), *command[3:])
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((tmp_path / command[2] / "vedder.yaml").read_text())
    assert written["warehouse"] == shown["warehouse"] and written["dialect"] == "postgres"
    assert f"next: export {shown['warehouse']['password_env']}=…" in result.output


def test_init_with_password_env_logs_in_through_that_variable_and_never_writes_or_shows_the_password(
        postgres_server, tmp_path, monkeypatch):
    root = tmp_path / "analytics"
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with_password = postgres_server.url.replace("analyst@", f"analyst:{postgres_server.password}@")
    init = vedder("init", str(root), "--warehouse", with_password, "--password-env", "WALK_PG_PASSWORD")
    assert init.exit_code == 0, init.output
    assert postgres_server.password not in init.output and "export WALK_PG_PASSWORD" in init.output
    config = (root / "vedder.yaml").read_text()
    assert postgres_server.password not in config
    assert yaml.safe_load(config)["warehouse"] == {"type": "postgres", "url": postgres_server.url, "password_env": "WALK_PG_PASSWORD"}
    monkeypatch.chdir(root)
    unset = vedder("cluster", "new", "shop", "--tables", "shop.orders", "--owner", "commerce")
    assert unset.exit_code == 3 and "WALK_PG_PASSWORD" in unset.output and not (root / "clusters/shop").exists()
    monkeypatch.setenv("WALK_PG_PASSWORD", postgres_server.password)
    created = vedder("cluster", "new", "shop", "--tables", "shop.orders", "--owner", "commerce")
    assert created.exit_code == 0, created.output
    assert (root / "clusters/shop/datasets/shop.orders.yaml").is_file()
    counted = vedder("query", "SELECT count(*) AS orders FROM shop.orders", "--json")
    assert counted.exit_code == 0 and json.loads(counted.stdout)["rows"] == [[6]], counted.output
    monkeypatch.setenv("WALK_PG_PASSWORD", "not-the-password")
    refused = vedder("query", "SELECT count(*) FROM shop.orders", "--json")
    assert refused.exit_code == 3 and "refused the login" in json.loads(refused.stdout)["error"]
    assert "not-the-password" not in refused.output and postgres_server.password not in refused.output


def test_init_without_password_env_says_how_to_give_the_password(tmp_path):
    result = vedder("init", str(tmp_path / "p"), "--warehouse", "postgresql://reader@db.internal:5432/analytics")
    assert result.exit_code == 0, result.output
    assert "next: export PGPASSWORD=… or add the password to ~/.pgpass" in result.output
    assert json.loads(vedder("init", str(tmp_path / "q"), "--warehouse", "postgresql://r@db/a", "--json").stdout)["password_step"]
    duckdb = json.loads(vedder("init", str(tmp_path / "d"), "--json").stdout)
    assert duckdb["password_step"] is None


@pytest.mark.parametrize("warehouse, value, words", [
    (None, "PG_PASSWORD", "--password-env is for a PostgreSQL warehouse"),
    ("wh.duckdb", "PG_PASSWORD", "--password-env is for a PostgreSQL warehouse"),
    ("postgresql://r@db/a", "s3cret pass!", "takes the name of an environment variable, not a password"),
    ("postgresql://r@db/a", "1PASSWORD", "takes the name of an environment variable, not a password"),
], ids=["default-duckdb", "duckdb-path", "a-password", "starts-with-a-digit"])
def test_init_refuses_a_password_env_that_cannot_be_one_without_echoing_it(tmp_path, warehouse, value, words):
    result = vedder("init", str(tmp_path / "p"), *(["--warehouse", warehouse] if warehouse else []), "--password-env", value)
    assert result.exit_code == 2 and words in result.output, result.output
    assert value not in result.output.replace("--password-env PG_PASSWORD", "")
    assert not (tmp_path / "p" / "vedder.yaml").exists()


def test_init_help_shows_each_example_as_a_paragraph_of_its_own():
    result = vedder("init", "--help")
    assert "  Example: vedder init analytics --warehouse warehouse.duckdb\n\n" in result.output  # not run into the next
    first, second = (" ".join(chunk.split()) for chunk in result.output.split("Example:")[1:3])
    assert first == "vedder init analytics --warehouse warehouse.duckdb"
    assert second.startswith("vedder init analytics --warehouse postgresql://vedder_reader@db.internal:5432/analytics "
                             "--password-env ANALYTICS_PG_PASSWORD Arguments:")


def _active_vedder_queries(postgres_server) -> list[tuple]:
    return postgres_server.admin("SELECT pid, query FROM pg_stat_activity WHERE application_name = 'vedder' "
                                 "AND state = 'active' AND query LIKE 'FETCH%'", database="warehouse")


def test_ctrl_c_during_a_slow_query_exits_130_and_cancels_it_on_the_server(postgres_server, tmp_path):
    root = postgres_server.project(tmp_path / "p")
    slow = "SELECT count(*) AS n FROM shop.orders, generate_series(1, 2000000000) AS g"
    env = {**os.environ, "VEDDER_TEST_PG_PASSWORD": postgres_server.password}
    process = subprocess.Popen([*VEDDER, "query", slow, "--project", str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and not _active_vedder_queries(postgres_server) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert err.splitlines() == ["interrupted"], err
    deadline = time.monotonic() + 10  # the backend finishes its cancel on its own time; only the end state is asserted
    while _active_vedder_queries(postgres_server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _active_vedder_queries(postgres_server) == []
