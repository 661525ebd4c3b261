"""vedder.sql.layout.reflow: one-line SQL over lines for review, changing nothing but whitespace."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlglot

from vedder.files import dump_yaml, load_yaml
from vedder.sql.layout import WIDTH, reflow

ROOT = Path(__file__).resolve().parent.parent

TRICKY = [
    "SELECT a, 'x FROM y WHERE z AND w' AS s FROM t WHERE a > 1 AND b < 2 ORDER BY a DESC LIMIT 5",
    "WITH x AS (SELECT a FROM t WHERE a > 1 AND b < 2) SELECT CASE WHEN a > 1 AND b > 2 THEN 'x' END AS c, "
    "COUNT(*) FROM x LEFT OUTER JOIN y ON x.a = y.a AND x.b = y.b WHERE a IN (SELECT a FROM z WHERE q = 1) GROUP BY 1",
    "SELECT a FROM t WHERE d BETWEEN DATE '2026-01-01' AND DATE '2026-02-01' AND e = 1 UNION ALL SELECT a FROM u",
    "SELECT \"FROM\", \"where and\" FROM \"my table\" WHERE \"FROM\" = 'AND' AND x IS NOT NULL -- WHERE a AND b",
    "SELECT a /* FROM AND WHERE */ FROM t CROSS JOIN u WHERE a = 1 AND b = 2 HAVING COUNT(*) > 1 AND SUM(x) > 2",
]


def corpus() -> list[str]:
    sqls = [json.loads(line)["query"] for line in (ROOT / "history/queries.jsonl").read_text().splitlines() if line.strip()]
    sqls += [str(load_yaml(path).data["sql"]) for path in sorted(ROOT.glob("clusters/*/pairs/*.yaml"))]
    return sqls + TRICKY


@pytest.mark.parametrize("sql", TRICKY)
def test_tricky_queries_only_change_whitespace_between_tokens(sql):
    flowed = reflow(sql)
    assert flowed != sql and "\n" in flowed
    assert re.sub(r"\s+", " ", flowed) == re.sub(r"\s+", " ", sql)
    assert sqlglot.parse_one(flowed, read="duckdb") == sqlglot.parse_one(sql, read="duckdb")


def test_every_demo_history_query_and_pair_is_the_same_query_after_reflow():
    changed = 0
    for sql in corpus():
        flowed = reflow(sql)
        if flowed == sql:
            continue
        changed += 1
        assert re.sub(r"\s+", " ", flowed) == re.sub(r"\s+", " ", sql.strip()), sql
        try:
            before = sqlglot.parse_one(sql, read="duckdb")
        except sqlglot.errors.ParseError:
            continue  # history holds broken queries too; the text check above still holds
        assert sqlglot.parse_one(flowed, read="duckdb") == before, sql
    assert changed > 50


def test_what_is_left_alone():
    short = "SELECT COUNT(*) FROM t WHERE a = 1"
    assert len(short) <= WIDTH and reflow(short) == short
    written = "SELECT a\nFROM t WHERE a = 1 AND b = 2 AND c = 3 AND d = 4 AND e = 5 AND f = 6 AND g = 7"
    assert reflow(written) == written  # laid out by a person already
    broken = "SELECT 'unterminated FROM t WHERE a = 1 AND b = 2 AND c = 3 AND d = 4 AND e = 5 AND f = 6"
    assert reflow(broken) == broken


def test_a_reflowed_query_is_a_literal_block_in_yaml():
    sql = reflow("SELECT u.plan, COUNT(*) AS streams FROM listening.events e JOIN listening.users u "
                 "ON u.user_id = e.user_id WHERE e.duration_ms >= 30000 AND e.user_id >= 100 GROUP BY u.plan")
    text = dump_yaml({"question": "Streams per plan?", "sql": sql + "\n"})
    assert "sql: |\n  SELECT u.plan, COUNT(*) AS streams\n  FROM listening.events e\n" in text
    assert "\n  JOIN listening.users u ON u.user_id = e.user_id\n  WHERE e.duration_ms >= 30000\n    AND e.user_id >= 100\n" in text
