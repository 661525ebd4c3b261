"""The log's schema only grows, through small named migrations recorded in the ``migrations`` table.

Add a new function to MIGRATIONS to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from typing import Callable


def m001_turns_and_feedback(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE turns (
            id TEXT PRIMARY KEY,
            conversation_id TEXT NOT NULL,
            turn INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            user TEXT,
            surface TEXT,
            question TEXT NOT NULL,
            cluster TEXT,
            context_ids TEXT,
            steps TEXT,
            sql TEXT,
            status TEXT,
            answer TEXT,
            model TEXT,
            tokens INTEGER,
            cost REAL,
            latency_s REAL,
            row_count INTEGER,
            result_summary TEXT
        )"""
    )
    db.execute("CREATE INDEX turns_conversation ON turns (conversation_id, turn)")
    db.execute("CREATE INDEX turns_cluster_time ON turns (cluster, created_at)")
    db.execute(
        """CREATE TABLE feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id TEXT NOT NULL,
            turn_id TEXT NOT NULL,
            rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
            comment TEXT,
            user TEXT,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX feedback_turn ON feedback (turn_id)")


def m002_routing_scores(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE turns ADD COLUMN routing TEXT")


def m003_route_memory(db: sqlite3.Connection) -> None:
    """How each turn's cluster was chosen (``cluster_source``: given, routed, memory, switched, conversation;
    NULL on turns logged before) and the question's normalised key, indexed, so route memory finds earlier
    answers to the same question. Existing turns get their key here; no row is dropped or rewritten otherwise."""
    from vedder.log.question_key import question_key

    db.execute("ALTER TABLE turns ADD COLUMN cluster_source TEXT")
    db.execute("ALTER TABLE turns ADD COLUMN question_key TEXT")
    keys = [(question_key(question or ""), turn_id) for turn_id, question in db.execute("SELECT id, question FROM turns")]
    db.executemany("UPDATE turns SET question_key = ? WHERE id = ?", keys)
    db.execute("CREATE INDEX turns_question_key ON turns (question_key, cluster)")


def m004_given_clusters_of_earlier_turns(db: sqlite3.Connection) -> None:
    """Turns logged before m003 whose cluster was given (``--cluster``, a surface's cluster) get
    ``cluster_source = 'given'``, so route memory counts them. ``ask`` always recorded such a turn's routing as
    the given cluster alone with score 1.0 (routing did not run, and the agent could not switch: only routed
    turns offered switch_cluster); a routed turn has one entry per cluster (up to five), and turns before m002
    have no routing: those stay NULL. (Routed in a project of one cluster with a score of exactly 1.000 would read as
    given: a tie needs two clusters, so such a turn can only matter after another cluster joins.)"""
    import json

    given = []
    for turn_id, cluster, routing in db.execute(
            "SELECT id, cluster, routing FROM turns WHERE cluster_source IS NULL AND cluster IS NOT NULL AND routing IS NOT NULL"):
        try:
            scores = json.loads(routing)
        except ValueError:
            continue
        if scores == [{"id": cluster, "score": 1.0}]:
            given.append((turn_id,))
    db.executemany("UPDATE turns SET cluster_source = 'given' WHERE id = ?", given)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [m001_turns_and_feedback, m002_routing_scores, m003_route_memory,
                                                           m004_given_clusters_of_earlier_turns]


def migrate(db: sqlite3.Connection) -> None:
    """Apply every migration not yet recorded, each in its own transaction."""
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied = {row[0] for row in db.execute("SELECT name FROM migrations")}
    for migration in MIGRATIONS:
        if migration.__name__ in applied:
            continue
        with db:
            db.execute("BEGIN IMMEDIATE")
            if db.execute("SELECT 1 FROM migrations WHERE name = ?", (migration.__name__,)).fetchone():
                continue
            migration(db)
            db.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                (migration.__name__, datetime.now(timezone.utc).isoformat(timespec="seconds")),
            )
