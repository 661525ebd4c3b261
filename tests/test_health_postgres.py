"""vedder health on a big PostgreSQL table measures live columns as `vedder profile` does, on the real server of
tests/postgres_server.py.

A renamed column is recognized by its value profile (null fraction, distinct count, common values, min/max). On
PostgreSQL above SAMPLE_ROWS rows the profile's distinct count is an estimate (+19-24% on a long tail); health
used to count the live column exactly, so a renamed long-tail column missed its match (reported as removed and
added, its pairs not fixed). Now both sides are the same estimate from the same repeatable sample.

SAMPLE_ROWS is lowered to 10,000 here so a 200,000-row table is sampled at 5%, as a 2M-row table is by default.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postgres_server import postgres_server  # noqa: F401  (the session fixture)
from vedder import profile as profile_module
from vedder.cli import app
from vedder.health.drift import DISTINCT_TOLERANCE
from vedder.health.live import column_profiles
from vedder.warehouse.postgres import PostgresWarehouse

ROWS = 200_000
# 60% of rows in 3 heavy values, a tail of values seen 1-4 times: the profile's estimate overcounts it by ~20%.
TABLE_SQL = f"""
CREATE SCHEMA big AUTHORIZATION analyst;
SET ROLE analyst;
CREATE TABLE big.events AS
SELECT i AS event_id,
       CASE WHEN i % 10 < 6 THEN 'heavy_' || i % 3 ELSE 'tail_' || ((i * 7919) % {ROWS}) / (1 + i % 4) END AS label,
       (ARRAY['US', 'GB', 'SE', 'DE'])[1 + i % 4] AS country
FROM generate_series(0::bigint, {ROWS} - 1) AS i;
ANALYZE big.events;
RESET ROLE;
"""
PAIR = ("question: How many events per label?\nsql: SELECT label, COUNT(*) AS events FROM big.events GROUP BY label\n"
        "verified_by: ana\nverified_at: '2026-11-20'\n")
_databases = itertools.count()


@pytest.fixture
def database(postgres_server, monkeypatch) -> str:
    name = f"health_big_{next(_databases)}"
    postgres_server.admin(f"CREATE DATABASE {name} OWNER analyst")
    postgres_server.admin(TABLE_SQL, database=name)
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    monkeypatch.setattr(profile_module, "SAMPLE_ROWS", 10_000)
    yield name
    postgres_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def project(postgres_server, database, tmp_path) -> Path:
    """A profiled project on the big table (its dataset file written by `vedder profile`), committed to git."""
    url = postgres_server.url.rsplit("/", 1)[0] + "/" + database
    files = {
        "vedder.yaml": f"warehouse: {{type: postgres, url: '{url}'}}\nmodel: offline\n",
        "clusters/big/cluster.yaml": "id: big\ntitle: Events\ndescription: Events.\nowners: {team: data, members: [ana]}\n"
                                     "datasets: [big.events]\n",
        "clusters/big/pairs/events-per-label.yaml": PAIR,
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert vedder("profile", "--project", str(tmp_path)).exit_code == 0
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "."], cwd=tmp_path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "big"], cwd=tmp_path, check=True)
    return tmp_path


def vedder(*args: str):
    return CliRunner().invoke(app, list(args))


def health(root: Path) -> dict[str, dict]:
    result = vedder("health", "--format", "json", "--project", str(root))
    assert result.exit_code in (0, 1), result.output
    return {s["name"]: s for s in json.loads(result.stdout)["clusters"][0]["signals"]}


def profiled_label(root: Path) -> dict:
    import yaml

    dataset = yaml.safe_load((root / "clusters/big/datasets/big.events.yaml").read_text())
    return next(c for c in dataset["columns"] if c["name"] == "label")


def admin(postgres_server, database: str, sql: str) -> None:
    postgres_server.admin(f"SET ROLE analyst; {sql}; RESET ROLE;", database=database)


def test_the_profile_estimates_the_long_tail_beyond_the_drift_tolerance(postgres_server, database, project):
    """The premise: the dataset file's distinct count is an estimate further from the exact count than the
    tolerance a value profile match allows, so comparing it with an exact live count cannot match."""
    exact = postgres_server.admin("SELECT count(DISTINCT label) FROM big.events", database=database)[0][0]
    estimate = profiled_label(project)["distinct_count"]
    assert abs(estimate - exact) > DISTINCT_TOLERANCE * max(estimate, exact), (estimate, exact)


def test_profile_then_health_on_the_same_data_finds_no_drift(project):
    signals = health(project)
    assert signals["schema_drift"]["value"] == 1.0 and signals["schema_drift"]["problems"] == []
    assert signals["pair_validity"]["value"] == 1.0 and signals["data_health"]["problems"] == []


def test_a_renamed_long_tail_column_is_recognized_and_its_pair_fixed(postgres_server, database, project):
    admin(postgres_server, database, "ALTER TABLE big.events RENAME COLUMN label TO event_label")
    drifted = health(project)
    assert drifted["schema_drift"]["problems"][0]["data"]["renamed"] == {"label": "event_label"}
    fixed = vedder("health", "--fix", "--no-pr", "--project", str(project))
    assert fixed.exit_code in (0, 1), fixed.output
    assert "event_label" in (project / "clusters/big/pairs/events-per-label.yaml").read_text()
    after = health(project)
    assert after["schema_drift"]["value"] == 1.0 and after["pair_validity"]["value"] == 1.0


def test_a_renamed_column_of_a_table_that_grew_is_still_recognized(postgres_server, database, project):
    """3% more rows since the profile: another sample, an estimate within the tolerance of the profile's."""
    admin(postgres_server, database, f"""INSERT INTO big.events
        SELECT i, CASE WHEN i % 10 < 6 THEN 'heavy_' || i % 3 ELSE 'tail_' || ((i * 7919) % {ROWS}) / (1 + i % 4) END, 'US'
        FROM generate_series({ROWS}::bigint, {int(ROWS * 1.03)} - 1) AS i""")
    admin(postgres_server, database, "ALTER TABLE big.events RENAME COLUMN label TO event_label")
    assert health(project)["schema_drift"]["problems"][0]["data"]["renamed"] == {"label": "event_label"}


@pytest.mark.parametrize("change", [
    # renamed, and its values rewritten: a near-unique column now
    "ALTER TABLE big.events RENAME COLUMN label TO event_label; UPDATE big.events SET event_label = md5(event_id::text)",
    # dropped, and another text column added: 50 values
    "ALTER TABLE big.events DROP COLUMN label; ALTER TABLE big.events ADD COLUMN event_label text; "
    "UPDATE big.events SET event_label = 'kind_' || event_id % 50",
])
def test_a_real_change_is_still_drift_not_a_rename(postgres_server, database, project, change):
    admin(postgres_server, database, change)
    problem = health(project)["schema_drift"]["problems"][0]
    assert problem["kind"] == "columns_changed" and problem["data"]["renamed"] == {}
    assert problem["data"]["removed"] == {"label": "TEXT"} and problem["data"]["added"] == {"event_label": "TEXT"}


class Recording(PostgresWarehouse):
    """The warehouse, keeping every statement health sends."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.statements: list[str] = []

    def execute(self, sql, *args, **kwargs):
        self.statements.append(sql)
        return super().execute(sql, *args, **kwargs)


def test_live_value_profiles_count_no_distinct_values_on_a_big_table(postgres_server, database, project):
    """Health on a big PostgreSQL table costs what profile costs: no count(DISTINCT) (a sort of every value), the
    distinct count estimated from the repeatable sample the profile used, identical on unchanged data."""
    url = postgres_server.url.rsplit("/", 1)[0] + "/" + database
    with Recording(url) as warehouse:
        live = column_profiles(warehouse, "big.events", ["label", "country"])
    assert not any("COUNT(DISTINCT" in sql.upper() for sql in warehouse.statements), warehouse.statements
    assert any("TABLESAMPLE BERNOULLI" in sql for sql in warehouse.statements)
    assert live["label"]["distinct_count"] == profiled_label(project)["distinct_count"]
    assert live["country"]["distinct_count"] == 4 and live["country"]["common_values"] == ["DE", "GB", "SE", "US"]
