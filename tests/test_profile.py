"""Profiling against small DuckDB warehouses built here: statistics, partitions, re-profiling, `vedder profile`."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import duckdb
import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from vedder import profile as profiling
from vedder.cli import app
from vedder.config import load_config
from vedder.files import dump_yaml
from vedder.profile import expand_patterns, profile_table, profile_tables
from vedder.project import load_project
from vedder.warehouse.duckdb import DuckDBWarehouse

REPO = Path(__file__).resolve().parents[1]

WAREHOUSE_SQL = '''
CREATE SCHEMA music;
CREATE SCHEMA crm;
CREATE TABLE music.plays AS
SELECT i AS play_id,
       i % 50 + 1 AS user_id,
       ['US', 'GB', 'US', 'SE'][i % 4 + 1] AS country,
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'ios' END AS platform,
       DATE '2024-01-01' + CAST(i % 10 AS INTEGER) AS event_date,
       TIMESTAMP '2024-01-01 00:00:00' + to_seconds(i * 37) AS played_at,
       CAST(i AS DECIMAL(10, 2)) / 4 AS amount,
       CASE WHEN i < 600 THEN 'hit' ELSE 'track_' || i END AS track,
       i % 3 = 0 AS "select"
FROM range(1, 1001) t(i);
CREATE TABLE music.monthly AS
SELECT CAST(DATE '2024-01-01' + to_months(CAST(i AS INTEGER)) AS DATE) AS month, i AS listeners FROM range(12) t(i);
CREATE TABLE music.hourly AS
SELECT TIMESTAMP '2024-03-01 00:00:00' + to_hours(i) AS event_hour, i AS plays FROM range(48) t(i);
CREATE TABLE crm.users AS
SELECT i AS user_id, DATE '2023-01-01' + CAST(i AS INTEGER) AS signup_date, 'user' || i AS "odd ""name""" FROM range(1, 201) t(i);
CREATE TABLE crm.empty (id INTEGER, created DATE);
CREATE SCHEMA catalog;
CREATE TABLE catalog.tracks AS
SELECT i AS track_id, DATE '2000-01-01' + CAST(i AS INTEGER) AS release_date, TIMESTAMP '2024-01-01' + to_hours(i) AS last_played_at
FROM range(100) t(i);
'''


@functools.cache
def warehouse_bytes() -> bytes:
    """The test warehouse, built once per test session (each project gets its own copy)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "warehouse.duckdb"
        connection = duckdb.connect(str(path))
        connection.execute(WAREHOUSE_SQL)
        connection.close()
        return path.read_bytes()


def build_project(root: Path, clusters: dict[str, dict] | None = None) -> Path:
    """A project folder with vedder.yaml, the test warehouse and the given clusters {id: cluster.yaml data}."""
    (root / ".vedder").mkdir(parents=True)
    (root / ".vedder" / "warehouse.duckdb").write_bytes(warehouse_bytes())
    (root / "vedder.yaml").write_text("warehouse: {type: duckdb, path: .vedder/warehouse.duckdb}\ndialect: duckdb\nmodel: offline\n")
    (root / "clusters").mkdir()
    for cluster_id, data in (clusters or {}).items():
        folder = root / "clusters" / cluster_id
        folder.mkdir()
        document = {"id": cluster_id, "title": cluster_id.title(), "description": f"about {cluster_id}", **data}
        (folder / "cluster.yaml").write_text(dump_yaml(document))
    return root


LISTENING = {"owners": {"team": "listening-analytics"}, "datasets": ["music.*"]}


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    return build_project(tmp_path / "project", {"listening": LISTENING})


@pytest.fixture
def warehouse(project_root: Path):
    with DuckDBWarehouse(project_root / ".vedder" / "warehouse.duckdb") as opened:
        yield opened


def run(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))


def column(profile: dict, name: str) -> dict:
    return next(c for c in profile["columns"] if c["name"] == name)


def test_statistics_on_known_data(warehouse):
    plays = profile_table(warehouse, "music.plays")
    assert plays["row_count"] == 1000
    assert [c["name"] for c in plays["columns"]] == [
        "play_id", "user_id", "country", "platform", "event_date", "played_at", "amount", "track", "select"
    ]
    assert column(plays, "play_id") == {
        "name": "play_id", "type": "BIGINT", "description": "", "null_fraction": 0.0, "distinct_count": 1000, "min": 1, "max": 1000
    }
    user_id = column(plays, "user_id")
    assert (user_id["distinct_count"], user_id["min"], user_id["max"]) == (50, 1, 50)
    assert "common_values" not in user_id, "numbers list top values only when they cover most rows"
    assert len(column(plays, "event_date")["common_values"]) == 10
    assert column(plays, "country")["common_values"] == [
        {"value": "US", "frequency": 0.5}, {"value": "GB", "frequency": 0.25}, {"value": "SE", "frequency": 0.25}
    ]
    platform = column(plays, "platform")
    assert platform["null_fraction"] == 0.2
    assert platform["common_values"] == [{"value": "ios", "frequency": 0.8}]
    assert "min" not in platform
    assert column(plays, "amount")["min"] == 0.25 and column(plays, "amount")["max"] == 250.0
    assert column(plays, "event_date")["min"] == "2024-01-01"
    assert column(plays, "select")["common_values"] == [{"value": False, "frequency": 0.667}, {"value": True, "frequency": 0.333}]


def test_repetitive_high_cardinality_column_lists_top_values_only_when_they_cover_most_rows(warehouse):
    plays = profile_table(warehouse, "music.plays")
    track = column(plays, "track")
    assert track["distinct_count"] == 402
    assert track["common_values"][0] == {"value": "hit", "frequency": 0.599}
    assert len(track["common_values"]) == profiling.TOP_VALUES
    assert "common_values" not in column(plays, "play_id")
    assert "common_values" not in column(profile_table(warehouse, "crm.users"), "odd \"name\"")
    hourly = profile_table(warehouse, "music.hourly")
    assert not any("common_values" in c for c in hourly["columns"]), "values that never repeat are not common"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("music.plays", {"column": "event_date", "granularity": "day", "first": "2024-01-01", "last": "2024-01-10"}),
        ("music.monthly", {"column": "month", "granularity": "month", "first": "2024-01-01", "last": "2024-12-01"}),
        ("music.hourly", {"column": "event_hour", "granularity": "hour", "first": "2024-03-01T00:00:00", "last": "2024-03-02T23:00:00"}),
        ("crm.users", None),
        ("catalog.tracks", None),
        ("crm.empty", None),
    ],
)
def test_partition_detection(warehouse, table, expected):
    assert profile_table(warehouse, table)["partitioning"] == expected


@pytest.mark.parametrize(
    ("table", "columns", "expected"),
    [
        ("analytics.customers", {"UserId": "BIGINT", "city": "VARCHAR", "cohort_month": "DATE"}, None),
        ("hr.employees", {"birth_date": "DATE", "HireDate": "DATE", "date_left_staff": "DATE"}, None),
        ("crm.users", {"signup_date": "DATE", "first_seen_at": "TIMESTAMP", "date_of_latest_logon": "DATE"}, None),
        ("crm.customers", {"date_became_customer": "DATE", "date_account_opened": "DATE"}, None),
        ("growth.signups", {"user_id": "BIGINT", "signup_date": "DATE"}, "signup_date"),  # a signups table: the row is the signup
        ("school.Student_Course_Registrations", {"registration_date": "DATE"}, "registration_date"),
        ("support.tickets", {"due_date": "DATE", "created_at": "TIMESTAMP"}, "created_at"),
        ("shop.orders", {"Order Date": "DATE", "created_at": "TIMESTAMPTZ"}, "Order Date"),
        ("shop.orders", {"order_placed_datetime": "TIMESTAMP", "order_delivered_datetime": "TIMESTAMP"}, "order_placed_datetime"),
        ("web.sessions", {"first_seen_date": "DATE", "session_date": "DATE"}, "session_date"),
        ("finance.invoices", {"issued_at": "TIMESTAMPTZ", "paid_on": "DATE"}, "issued_at"),
        ("listening.events", {"event_ts": "TIMESTAMP", "event_date": "DATE"}, "event_date"),
        ("revenue.payments", {"paid_at": "TIMESTAMP", "payment_date": "DATE"}, "payment_date"),
        ("ops.metrics", {"updated_at": "TIMESTAMP", "report_date": "DATE"}, "report_date"),
        # a time zone after the name: placed_at_utc is placed_at, an attribute stays one
        ("market.orders", {"deleted_at": "TIMESTAMPTZ", "placed_at_utc": "TIMESTAMPTZ"}, "placed_at_utc"),
        ("finance.refunds", {"order_id": "BIGINT", "refunded_at_UTC": "TIMESTAMPTZ"}, "refunded_at_UTC"),
        ("web.hits", {"hit_ts_local": "TIMESTAMP", "hit_date_utc": "DATE"}, "hit_date_utc"),
        ("crm.buyers", {"signed_up_at_utc": "TIMESTAMPTZ"}, None),
    ],
)
def test_the_partition_says_when_the_row_happened_not_an_attribute_of_an_entity(table, columns, expected):
    kinds = [profiling._column_kind(name, kind, "duckdb") for name, kind in columns.items()]
    chosen = profiling._partition_candidate(kinds, table)
    assert (chosen.name if chosen else None) == expected


def test_progress_is_reported_per_table_and_step(warehouse):
    steps: list[tuple[str, int, int]] = []
    profile_tables(warehouse, ["music.monthly", "crm.users"], progress=lambda *step: steps.append(step))
    assert steps == [("music.monthly", 0, 2), ("music.monthly", 1, 2), ("music.monthly", 2, 2), ("crm.users", 0, 2), ("crm.users", 1, 2), ("crm.users", 2, 2)]


def test_empty_table_profiles_without_dividing_by_zero(warehouse):
    empty = profile_table(warehouse, "crm.empty")
    assert empty["row_count"] == 0
    assert column(empty, "created") == {
        "name": "created", "type": "DATE", "description": "", "null_fraction": 0.0, "distinct_count": 0, "min": None, "max": None
    }


def test_sampling_path_keeps_statistics_close(warehouse, monkeypatch):
    monkeypatch.setattr(profiling, "SAMPLE_ROWS", 200)
    plays = profile_table(warehouse, "music.plays")
    assert plays["row_count"] == 1000
    assert column(plays, "platform")["null_fraction"] == 0.2
    assert 45 <= column(plays, "user_id")["distinct_count"] <= 55
    country = {v["value"]: v["frequency"] for v in column(plays, "country")["common_values"]}
    assert set(country) == {"US", "GB", "SE"}
    assert abs(country["US"] - 0.5) < 0.1
    assert sum(country.values()) == pytest.approx(1.0, abs=0.01)


def test_an_estimated_distinct_count_is_never_more_than_the_integers_between_min_and_max(tmp_path, monkeypatch):
    """A reviewer's orders.buyer_id 1…50,000 was profiled with 50,237 distinct values (approx_count_distinct overshoots)."""
    monkeypatch.setattr(profiling, "SAMPLE_ROWS", 200)
    path = tmp_path / "ids.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT range % 50000 + 1 AS buyer_id, range % 7 AS tier "
                    "FROM range(200000)")
        assert con.execute("SELECT approx_count_distinct(buyer_id) FROM shop.orders").fetchall()[0][0] > 50_000  # the overshoot
    profile = profile_table(DuckDBWarehouse(path), "shop.orders")
    assert column(profile, "buyer_id")["distinct_count"] == 50_000
    assert column(profile, "tier")["distinct_count"] <= 7


def test_identifiers_are_quoted(warehouse):
    users = profile_table(warehouse, "crm.users")
    assert column(users, 'odd "name"')["distinct_count"] == 200


def test_profile_matches_the_dataset_schema(warehouse):
    schema = json.loads((REPO / "schemas" / "dataset.schema.json").read_text())
    for table in warehouse.tables():
        document = yaml.safe_load(dump_yaml(profile_table(warehouse, table)))
        jsonschema.validate(document, schema)


def test_expand_patterns():
    tables = ["crm.users", "music.hourly", "music.plays"]
    assert expand_patterns(["music.*", "MUSIC.PLAYS", "crm.nope"], tables) == (["music.hourly", "music.plays"], ["crm.nope"])


def test_descriptions_survive_reprofiling(project_root):
    (project_root / "schemas").mkdir()  # as `vedder init` leaves it: the header points at the project's copy
    (project_root / "schemas" / "dataset.schema.json").write_text((REPO / "schemas" / "dataset.schema.json").read_text())
    assert run("profile", "--project", str(project_root)).exit_code == 0
    path = project_root / "clusters" / "listening" / "datasets" / "music.plays.yaml"
    assert path.read_text().startswith("# yaml-language-server: $schema=../../../schemas/dataset.schema.json\n")
    document = yaml.safe_load(path.read_text())
    document["description"] = "One row per play."
    column(document, "country")["description"] = "ISO country of the listener."
    column(document, "track")["description"] = "Dropped soon."
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    connection = duckdb.connect(str(project_root / ".vedder" / "warehouse.duckdb"))
    connection.execute("ALTER TABLE music.plays DROP COLUMN track; ALTER TABLE music.plays ADD COLUMN device VARCHAR DEFAULT 'phone'")
    connection.close()

    assert run("profile", "listening", "--project", str(project_root)).exit_code == 0
    again = yaml.safe_load(path.read_text())
    assert again["description"] == "One row per play."
    assert column(again, "country")["description"] == "ISO country of the listener."
    assert [c["name"] for c in again["columns"]][-2:] == ["select", "device"]
    assert "track" not in [c["name"] for c in again["columns"]]
    assert column(again, "device")["common_values"] == [{"value": "phone", "frequency": 1.0}]


def test_a_partition_column_set_by_hand_survives_reprofiling(project_root):
    """An expert who sets the partition to the column the pipeline loads by (here played_at, not the detected
    event_date) keeps it through `vedder profile`; once the table loses that column, detection takes over again."""
    assert run("profile", "listening", "--project", str(project_root)).exit_code == 0
    path = project_root / "clusters" / "listening" / "datasets" / "music.plays.yaml"
    document = yaml.safe_load(path.read_text())
    assert document["partitioning"]["column"] == "event_date"
    document["partitioning"]["column"] = "played_at"
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    assert run("profile", "listening", "--project", str(project_root)).exit_code == 0
    kept = yaml.safe_load(path.read_text())["partitioning"]
    assert kept["column"] == "played_at" and kept["first"].startswith("2024-01-01") and kept["last"] > kept["first"]

    connection = duckdb.connect(str(project_root / ".vedder" / "warehouse.duckdb"))
    connection.execute("ALTER TABLE music.plays DROP COLUMN played_at")
    connection.close()
    assert run("profile", "listening", "--project", str(project_root)).exit_code == 0
    assert yaml.safe_load(path.read_text())["partitioning"]["column"] == "event_date"


def test_profile_tables_uses_existing_descriptions_by_table(project_root, warehouse):
    assert run("profile", "--project", str(project_root)).exit_code == 0, "a second connection in the process opens too"
    cluster = load_project(load_config(project_root)).clusters["listening"]
    cluster.dataset_files["music.hourly"].description = "Plays per hour."
    profiles = profile_tables(warehouse, ["music.hourly", "music.monthly"], cluster.dataset_files)
    assert profiles["music.hourly"]["description"] == "Plays per hour."
    assert profiles["music.monthly"]["description"] == ""


def test_profile_command_writes_every_table_and_summarises(project_root):
    result = run("profile", "--project", str(project_root))
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (project_root / "clusters" / "listening" / "datasets").iterdir())
    assert written == ["music.hourly.yaml", "music.monthly.yaml", "music.plays.yaml"]
    assert "music.plays" in result.stdout and "1,000" in result.stdout
    plays = next(line for line in result.stdout.splitlines() if "music.plays" in line)
    assert plays.split() == ["music.plays", "1,000", "9", "event_date", "(day)", "2024-01-10"]
    assert "cluster listening" in result.stdout
    assert "music.plays" in result.stderr, "a progress bar per table"
    assert "profiled 3 dataset file(s) in 1 cluster(s) in " in result.stdout


def test_profile_json_and_shared_tables_profiled_once_per_cluster(tmp_path):
    root = build_project(tmp_path / "p", {
        "listening": LISTENING,
        "people": {"owners": {"team": "crm"}, "datasets": ["crm.users", "music.plays"]},
    })
    result = run("profile", "--json", "--project", str(root))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted((t["cluster"], t["table"]) for t in report["tables"]) == [
        ("listening", "music.hourly"), ("listening", "music.monthly"), ("listening", "music.plays"),
        ("people", "crm.users"), ("people", "music.plays"),
    ]
    assert (root / "clusters" / "people" / "datasets" / "music.plays.yaml").is_file()


def test_missing_exact_table_is_a_warning(tmp_path):
    root = build_project(tmp_path / "p", {"people": {"owners": {"team": "crm"}, "datasets": ["crm.users", "crm.user"]}})
    result = run("profile", "--project", str(root))
    assert result.exit_code == 0, result.output
    assert "warning: cluster 'people' lists crm.user, which matches no table in the warehouse (did you mean crm.users?)" in result.stderr
    assert (root / "clusters" / "people" / "datasets" / "crm.users.yaml").is_file()


def test_cluster_matching_nothing_is_table_not_found(tmp_path):
    root = build_project(tmp_path / "p", {"listening": LISTENING, "ads": {"owners": {"team": "ads"}, "datasets": ["ads.*"]}})
    result = run("profile", "--project", str(root))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "error: no table in the warehouse matches the datasets of cluster 'ads' (ads.*)"
    assert result.stderr.splitlines()[1].startswith("hint: fix `datasets` in ")
    assert not (root / "clusters" / "listening" / "datasets").exists(), "nothing is written when a cluster is wrong"


def test_unknown_cluster(project_root):
    result = run("profile", "nope", "--project", str(project_root))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: unknown cluster 'nope' (known: listening)",
        "hint: `vedder clusters` lists the clusters of this project",
    ]


def test_missing_warehouse(project_root):
    (project_root / ".vedder" / "warehouse.duckdb").unlink()
    result = run("profile", "--project", str(project_root))
    assert result.exit_code == 3
    assert result.stderr.startswith("error: warehouse file ")
    assert "Traceback" not in result.output


def test_a_wide_table_counts_distinct_values_in_batches(tmp_path, monkeypatch):
    """More groupable columns than DISTINCT_BATCH: each column's exact count lands on that column, NULL-only,
    nested and numeric columns mixed in, and no SELECT counts more than DISTINCT_BATCH of them."""
    path = tmp_path / "wide.duckdb"
    connection = duckdb.connect(str(path))
    metrics = ", ".join(f"CASE WHEN i % 7 <> 0 THEN i % {c + 2} END AS metric_{c:02d}" for c in range(20))
    connection.execute(f"CREATE SCHEMA finance; CREATE TABLE finance.wide AS SELECT i AS id, [i] AS tags, {metrics}, "
                       "NULL::VARCHAR AS nothing, DATE '2025-01-01' + (i % 30)::INTEGER AS event_date FROM range(1, 1001) t(i)")
    connection.close()
    monkeypatch.setattr(profiling, "DISTINCT_BATCH", 6)
    with DuckDBWarehouse(path) as opened:
        executed: list[str] = []
        execute = opened.execute
        monkeypatch.setattr(opened, "execute", lambda sql, **kw: executed.append(sql) or execute(sql, **kw))
        wide = profile_table(opened, "finance.wide")
    distinct = {c["name"]: c.get("distinct_count") for c in wide["columns"]}
    expected = {f"metric_{c:02d}": len({i % (c + 2) for i in range(1, 1001) if i % 7}) for c in range(20)}
    assert distinct == {"id": 1000, "tags": None, **expected, "nothing": 0, "event_date": 30}
    assert wide["partitioning"]["column"] == "event_date"
    assert column(wide, "metric_03")["common_values"][0]["frequency"] > 0.1, "the grouped pass sees the batched counts"
    batches = [sql.count("count(DISTINCT") for sql in executed]
    assert max(batches) == 6 and sum(batches) == 23, executed


def test_a_view_for_a_table_with_capitals_asks_for_a_schema_only_when_it_needs_a_new_one():
    assert profiling._view_hint("market.Refunds") == (
        'give it a plain name with a view: CREATE VIEW market.refunds AS SELECT * FROM "market"."Refunds", then list market.refunds')
    assert profiling._view_hint("Finance Data.refunds").endswith(
        'CREATE VIEW finance_data.refunds AS SELECT * FROM "Finance Data"."refunds" (create the schema finance_data first), then list finance_data.refunds')
