"""A small vedder project on disk for the curation tests: one cluster, a warehouse, a history, a git origin."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from vedder.schemas import schema_path
from vedder.warehouse.duckdb import DuckDBWarehouse

FILES = {
    "vedder.yaml": "warehouse: {type: duckdb, path: warehouse.duckdb}\ndialect: duckdb\nmodel: offline\n",
    ".gitignore": "warehouse.duckdb\n",
    "clusters/listening/cluster.yaml": (
        "id: listening\ntitle: Listening\ndescription: Streams and listeners\n"
        "owners: {team: listening-team, members: [ana, bo]}\n"
        "datasets: [listening.events, listening.users, listening.plays_legacy]\ndefault_schema: listening\n"
    ),
    "clusters/listening/datasets/listening.events.yaml": (
        "table: listening.events\ncolumns:\n  - {name: event_id, type: BIGINT}\n  - {name: user_id, type: BIGINT}\n"
        "  - {name: country, type: VARCHAR}\n  - {name: event_date, type: DATE}\n"
    ),
    "clusters/listening/datasets/listening.users.yaml": (
        "table: listening.users\ncolumns:\n  - {name: user_id, type: BIGINT}\n  - {name: plan, type: VARCHAR}\n"
    ),
    "clusters/listening/docs/legacy.md": "---\ntitle: Legacy plays\ndeprecated: [listening.plays_legacy]\n---\nUse events.\n",
    "clusters/listening/docs/definitions.md": "# Test accounts\nUser ids below 100 are test accounts: always filter `user_id >= 100`.\n",
    "clusters/listening/pairs/streams-per-plan.yaml": (
        "question: Number of streams per plan\n"
        "sql: SELECT u.plan, COUNT(*) FROM listening.events e JOIN listening.users u ON u.user_id = e.user_id "
        "WHERE e.user_id >= 100 GROUP BY u.plan\nverified_by: ana\nverified_at: '2026-11-01'\n"
    ),
}

# (query, user, status); started_at is derived from the position.
HISTORY = [
    # pattern A: streams per country in a window, 3 users, literal/alias/case variants
    ("SELECT country, COUNT(*) AS streams FROM events WHERE event_date >= CURRENT_DATE - INTERVAL 7 DAY AND user_id >= 100 GROUP BY country", "ana", "success"),
    ("select e.country, count(*) n from listening.events e where e.user_id >= 100 and e.event_date >= current_date - interval 30 day group by 1", "bo", "success"),
    ("select country, count(*) from events where user_id >= 100 and event_date >= current_date - interval '14 days' group by country", "cy", "success"),
    ("SELECT country, COUNT(*) AS streams FROM events WHERE event_date >= CURRENT_DATE - INTERVAL 7 DAY AND user_id >= 100 GROUP BY country", "ana", "success"),
    # pattern B: users per plan, 2 users
    ("select plan, count(*) from users where user_id >= 100 and plan in ('premium', 'family') group by plan", "bo", "success"),
    ("select plan, count(*) as n from users where plan in ('student') and user_id >= 100 group by 1", "dee", "success"),
    # already a vetted pair (spelled differently), 2 users
    ("SELECT users.plan, COUNT(*) FROM events JOIN users ON users.user_id = events.user_id WHERE events.user_id >= 100 GROUP BY 1", "ana", "success"),
    ("select u.plan, count(*) from events e join users u on u.user_id = e.user_id where e.user_id >= 100 group by u.plan", "cy", "success"),
    # one user only (debugging), twice
    ("select max(event_date) from events where country = 'SE'", "cy", "success"),
    ("select max(event_date) from events where country = 'GB'", "cy", "success"),
    # noise
    ("select * from events limit 10", "cy", "success"),
    ("describe events", "cy", "success"),
    ("select plan from users where user_id = 42", "bo", "success"),
    ("select count(*) from plays_legacy where played_at >= '2026-01-01'", "bo", "success"),
    ("select sum(amount_cents) from revenue.payments where status = 'paid'", "ana", "success"),
    ("select count(*) from events where country is null", "bo", "success"),
    ("select user_id, count(*) from users group by user_id having count(*) > 1", "dee", "success"),
    ("select nope, count(*) from events group by nope", "ana", "success"),
    ("select country from events group", "bo", "error"),
    ("selec country fro events", "bo", "success"),
    ("delete from events", "dee", "success"),
    ("select e.country, sum(p.amount_cents) from events e join revenue.payments p on p.user_id = e.user_id group by 1", "dee", "success"),
    # pattern B and the vetted one again: three runs, as a pattern needs (two people who wrote a query once each
    # have no pattern)
    ("select plan, count(*) from users where user_id >= 100 and plan in ('free') group by plan", "bo", "success"),
    ("SELECT u.plan, COUNT(*) FROM events e JOIN users u ON u.user_id = e.user_id WHERE e.user_id >= 100 GROUP BY u.plan", "ana", "success"),
]


def run(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def write_history(path: Path, rows=HISTORY) -> Path:
    with path.open("w") as handle:
        for index, (query, user, status) in enumerate(rows):
            handle.write(json.dumps({"query": query, "user": user, "started_at": f"2026-10-{index + 1:02d}T09:00:00",
                                     "status": status, "error": "Parser Error" if status == "error" else None}) + "\n")
    return path


def make_project(folder: Path, *, git: bool = True) -> Path:
    """Write the project, build its warehouse, and (with ``git``) commit it and push to a bare ``origin``."""
    project = folder / "project"
    for relative, text in FILES.items():
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(text)
    (project / "schemas").mkdir()  # as `vedder init` leaves a project: written files point at these copies
    for kind in ("pair", "proposal", "rejected"):
        (project / "schemas" / f"{kind}.schema.json").write_text(schema_path(kind).read_text())
    warehouse = DuckDBWarehouse(project / "warehouse.duckdb", read_only=False)
    warehouse.connection.execute(
        "CREATE SCHEMA listening;"
        "CREATE TABLE listening.users AS SELECT range AS user_id, ['free', 'premium', 'family'][range % 3 + 1] AS plan FROM range(300);"
        "CREATE TABLE listening.events AS SELECT range AS event_id, range % 300 AS user_id, ['US', 'SE', 'GB'][range % 3 + 1] AS country,"
        " CURRENT_DATE - CAST(range % 20 AS INTEGER) AS event_date FROM range(3000);"
        "CREATE SCHEMA ops;"
        "CREATE TABLE ops.query_history (query VARCHAR, \"user\" VARCHAR, started_at VARCHAR, status VARCHAR);"
    )
    warehouse.connection.executemany("INSERT INTO ops.query_history VALUES (?, ?, ?, ?)",
                                     [(q, u, f"2026-10-{i + 1:02d}T09:00:00", s) for i, (q, u, s) in enumerate(HISTORY)])
    warehouse.close()
    write_history(folder / "history.jsonl")
    if git:
        origin = folder / "origin.git"
        run("init", "--quiet", "--bare", "--initial-branch=main", str(origin), cwd=folder)
        run("init", "--quiet", "--initial-branch=main", cwd=project)
        run("remote", "add", "origin", str(origin), cwd=project)
        run("add", ".", cwd=project)
        run("commit", "--quiet", "-m", "project", cwd=project)
        run("push", "--quiet", "-u", "origin", "main", cwd=project)
    return project
