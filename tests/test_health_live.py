"""vedder health on the live warehouse: one parse per pair (the guard checks the parsed tree), pair runs on
a pool of DuckDB cursors, the warehouse's binder as proof that a pair qualifies, one query per table."""

from __future__ import annotations

import threading

import pytest
from test_health import health_of, mutate, shop, template, values  # noqa: F401  (fixtures)

from vedder.config import load_config
from vedder.errors import QueryTimeout, SQLExecutionError, SQLRefused
from vedder.files import atomic_write, dump_yaml
from vedder.health import check_health
from vedder.health import live as live_module
from vedder.health.live import LiveWarehouse, column_profiles
from vedder.profile import profile_table
from vedder.project import load_project
from vedder.sql.guard import guard_sql, parse_one_statement
from vedder.sql.run import guard_for_cluster, run_guarded, run_sql
from vedder.warehouse import open_warehouse

SLOW = "SELECT count(*) FROM range(100000000000) AS a"


def add_pair(root, slug: str, sql: str) -> None:
    atomic_write(root / "clusters" / "shop" / "pairs" / f"{slug}.yaml", dump_yaml(
        {"question": f"Question {slug}", "sql": sql, "verified_by": "ana", "verified_at": "2026-11-01"}))


@pytest.mark.parametrize("sql", [
    "SELECT country, count(*) FROM orders GROUP BY country",
    "WITH o AS (SELECT * FROM orders) SELECT count(*) FROM o JOIN shop.customers AS c ON o.user_id = c.user_id",
    "SELECT * FROM range(3)",
    "DELETE FROM orders",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM other.secrets",
    "SELECT * FROM range(3) AS r, duckdb_settings()",
])
def test_guard_checks_a_parsed_tree_as_it_checks_text(sql):
    def outcome(source):
        try:
            guarded = guard_sql(source, allowed=lambda t: t.startswith("shop."), default_schema="shop")
        except SQLRefused as exc:
            return ("refused", exc.rule, exc.message)
        return (guarded.sql, guarded.tables)

    tree = parse_one_statement(sql)
    assert outcome(tree) == outcome(sql)


def test_run_guarded_runs_only_what_the_guard_returned(shop):
    project = load_project(load_config(shop))
    cluster = project.cluster("shop")
    with open_warehouse(project.config) as warehouse:
        with pytest.raises(TypeError):
            run_guarded("SELECT 1", project=project, warehouse=warehouse)
        guarded = guard_for_cluster(parse_one_statement("SELECT count(*) FROM orders"), cluster)
        assert run_guarded(guarded, project=project, warehouse=warehouse).rows == [(2000,)]
        assert run_sql("SELECT count(*) FROM orders", project=project, warehouse=warehouse, cluster=cluster)[1].rows == [(2000,)]


def test_a_cursor_keeps_the_locked_configuration_and_times_out_on_its_own(shop):
    with open_warehouse(load_config(shop)) as warehouse:
        cursor = warehouse.cursor()
        assert cursor.schema() == warehouse.schema()
        with pytest.raises(SQLExecutionError, match="locked"):
            cursor.execute("SET enable_external_access = true")
        with pytest.raises(SQLExecutionError):
            cursor.execute("SELECT * FROM read_csv('/etc/hostname')")
        outcome: list[Exception] = []

        def run_slow() -> None:
            try:
                cursor.execute(SLOW, timeout_s=0.5)
            except QueryTimeout as exc:
                outcome.append(exc)

        slow = threading.Thread(target=run_slow)
        slow.start()
        assert warehouse.execute("SELECT count(*) FROM shop.customers").rows == [(300,)]
        slow.join()
        assert len(outcome) == 1
        cursor.close()
        assert warehouse.execute("SELECT count(*) FROM shop.refunds").rows == [(100,)]


def test_live_warehouse_gives_each_task_a_cursor_no_other_thread_holds(shop):
    with open_warehouse(load_config(shop)) as warehouse:
        holders: dict[int, set[str]] = {}
        barrier = threading.Barrier(3, timeout=30)

        def task(cursor, number):
            holders.setdefault(id(cursor), set()).add(threading.current_thread().name)
            barrier.wait()
            return cursor.execute(f"SELECT {number}").rows[0][0]

        with LiveWarehouse(warehouse, threads=3) as live:
            assert live.schema is warehouse.schema()
            runs = [live.submit(task, number) for number in range(3)]
            assert [run.result() for run in runs] == [0, 1, 2]
            opened = list(live._opened)
        assert len(holders) == 3 and all(len(names) == 1 for names in holders.values())
        assert id(warehouse) not in holders
        with pytest.raises(SQLExecutionError):
            opened[0].execute("SELECT 1")
        assert warehouse.execute("SELECT 1").rows == [(1,)]


def test_a_pair_the_warehouse_runs_qualifies_even_where_sqlglot_cannot_follow(shop):
    # DuckDB lets a projection use an alias made earlier in the same SELECT; sqlglot's qualifier does not.
    add_pair(shop, "lateral_alias", "SELECT amount_cents / 100 AS dollars, dollars * 2 AS twice FROM orders")
    health = health_of(shop)
    assert values(health)["pair_validity"] == 1.0 and values(health)["pair_execution"] == 1.0
    mutate(shop, "ALTER TABLE shop.orders RENAME COLUMN amount_cents TO amount")
    health = health_of(shop)
    found = {(p.subject, p.kind) for p in health.signal("pair_validity").problems}
    assert {("lateral_alias", "column_renamed"), ("revenue_by_plan", "column_renamed")} <= found
    assert {subject for subject, _ in found} == {"lateral_alias", "revenue_by_plan"}


def test_refused_and_slow_pairs_are_execution_problems_and_the_rest_still_run(shop):
    config = (shop / "vedder.yaml").read_text()
    atomic_write(shop / "vedder.yaml", config + "query: {timeout_s: 0.5}\n")
    add_pair(shop, "slow", "SELECT count(*) FROM orders, range(100000000000) AS r")
    add_pair(shop, "settings", "SELECT count(*) AS n, current_setting('threads') AS t FROM orders")
    add_pair(shop, "elsewhere", "SELECT count(*) FROM other.secrets")
    health = health_of(shop)
    problems = {p.subject: p.kind for p in health.signal("pair_execution").problems}
    assert problems == {"settings": "refused", "slow": "timeout"}
    # A pair naming a table the warehouse lacks is a validity problem (and not run), whatever the guard says.
    assert [(p.subject, p.kind) for p in health.signal("pair_validity").problems] == [("elsewhere", "unknown_table")]
    assert values(health)["pair_validity"] == pytest.approx(8 / 9)
    assert len(health.pairs.runnable) == 6


def test_the_report_does_not_depend_on_how_many_query_threads_run(shop, monkeypatch):
    mutate(shop, "ALTER TABLE shop.orders RENAME COLUMN country TO ship_country", "DELETE FROM shop.customers",
           "UPDATE shop.refunds SET refunded_cents = NULL WHERE order_id % 40 = 0")
    reports = []
    for threads in (1, 4):
        monkeypatch.setattr(live_module, "QUERY_THREADS", threads)
        report = check_health(load_project(load_config(shop)), reproducibility=False).to_dict()
        reports.append({k: v for k, v in report.items() if k != "checked_at"})
    assert reports[0] == reports[1]
    assert reports[0]["clusters"][0]["score"] < 100


def test_value_profiles_of_live_columns_are_the_profiles_own(shop):
    """A live column is measured as `vedder profile` measures it (so compared with its dataset file like for like)."""
    with open_warehouse(load_config(shop)) as warehouse:
        profiles = column_profiles(warehouse, "shop.orders", ["country", "order_id"])
        profiled = {c["name"]: c for c in profile_table(warehouse, "shop.orders")["columns"]}
    assert sorted(profiles) == ["country", "order_id"]
    assert profiles["country"] == {"null_fraction": 0.0, "distinct_count": 4, "min": None, "max": None,
                                   "common_values": ["DE", "GB", "SE", "US"]}  # 500 each: ties by value
    assert profiles["order_id"] == {"null_fraction": 0.0, "distinct_count": 2000, "min": 0, "max": 1999, "common_values": []}
    for name, profile in profiles.items():
        assert profile["distinct_count"] == profiled[name]["distinct_count"]
        assert profile["common_values"] == [v["value"] for v in profiled[name].get("common_values", [])]


def test_timeouts_need_no_thread_per_query_and_still_interrupt(shop):
    import gc

    import duckdb

    warehouse = open_warehouse(load_config(shop))
    for number in range(50):
        assert warehouse.execute(f"SELECT {number}", timeout_s=30).rows == [(number,)]
    watchers = [t for t in threading.enumerate() if t.name == "vedder-duckdb-timeout"]
    assert len(watchers) == 1
    with pytest.raises(QueryTimeout):
        warehouse.execute(SLOW, timeout_s=0.3)  # a sooner deadline than the watcher's wakes it up
    assert warehouse.execute("SELECT count(*) FROM shop.orders", timeout_s=30).rows == [(2000,)]
    # A warehouse dropped without close() does not stay open for its watcher's sake.
    del warehouse
    gc.collect()
    with duckdb.connect(str(shop / "warehouse.duckdb")) as writable:
        assert writable.execute("SELECT count(*) FROM shop.refunds").fetchone() == (100,)


def test_clusters_checked_one_ahead_report_as_each_checked_alone(shop):
    import shutil

    import yaml

    mutate(shop, "ALTER TABLE shop.refunds DROP COLUMN refunded_cents")
    for copy in ("shop_b", "shop_c"):
        shutil.copytree(shop / "clusters" / "shop", shop / "clusters" / copy)
        settings = yaml.safe_load((shop / "clusters" / copy / "cluster.yaml").read_text())
        atomic_write(shop / "clusters" / copy / "cluster.yaml", dump_yaml({**settings, "id": copy}))
    project = load_project(load_config(shop))
    together = check_health(project, reproducibility=False).to_dict()["clusters"]
    alone = [check_health(project, [c], reproducibility=False).to_dict()["clusters"][0] for c in ("shop", "shop_b", "shop_c")]
    assert [c["cluster"] for c in together] == ["shop", "shop_b", "shop_c"]
    assert together == alone
    assert all(c["signals"][0]["problems"][0]["subject"] == "refunded_total" for c in together)
