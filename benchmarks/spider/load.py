"""Load ../shared/spider-train into one DuckDB warehouse and one vedder project with a cluster per database.

    /work/venv/bin/python benchmarks/spider/load.py [--data ../shared/spider-train] [--out benchmarks/.work/spider]

What it builds under ``--out`` (git-ignored):
- ``warehouse.duckdb``: one schema per database; MySQL DDL transpiled with sqlglot, CSVs loaded as text and
  TRY_CAST into the declared type (a column whose text does not cast stays VARCHAR);
- ``vedder.yaml`` and ``clusters/<db>/``: cluster.yaml, one dataset file per table (profiled by
  ``vedder.profile``, as `vedder profile` writes it), and one vetted pair per distinct gold SQL (its first
  phrasing), except ~10% of the SQL held out entirely;
- ``eval.jsonl``: the other phrasings (``kind: phrasing``) and every phrasing of the held-out SQL
  (``kind: heldout``), each ``{question, sql, cluster, kind}``, for ``vedder eval``.

Gold SQL that does not run on DuckDB after transpiling is skipped (counted in the printed summary).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

import sqlglot
from sqlglot import exp

from vedder.files import atomic_write, dump_yaml

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[2] / "shared" / "spider-train"
DEFAULT_OUT = HERE.parent / ".work" / "spider"
HELD_OUT_SHARE = 0.10

_NUMERIC = {"INT", "BIGINT", "SMALLINT", "TINYINT", "MEDIUMINT", "UINT", "UBIGINT", "USMALLINT", "UTINYINT"}
_REAL = {"FLOAT", "DOUBLE", "DECIMAL", "NUMERIC", "REAL", "BIGDECIMAL", "MONEY"}


def duckdb_type(kind: exp.DataType | None) -> str:
    """The DuckDB type a Spider column is cast to: integers, doubles, booleans; everything else text."""
    name = kind.this.name if kind is not None else "TEXT"
    if name in _NUMERIC:
        return "BIGINT"
    if name in _REAL:
        return "DOUBLE"
    if name in {"BOOLEAN", "BIT"}:
        return "BOOLEAN"
    return "VARCHAR"


def parse_schema(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(table, [(column, duckdb type)])] from a Spider MySQL DDL file."""
    tables = []
    for statement in sqlglot.parse(path.read_text(encoding="utf-8"), read="mysql"):
        if not isinstance(statement, exp.Create) or not isinstance(statement.this, exp.Schema):
            continue
        columns = [
            (col.name, duckdb_type(col.args.get("kind")))
            for col in statement.this.expressions
            if isinstance(col, exp.ColumnDef)
        ]
        tables.append((statement.this.this.name, columns))
    return tables


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_table(con, db: str, table: str, columns: list[tuple[str, str]], csv_path: Path | None) -> None:
    target = f"{quote(db)}.{quote(table)}"
    if csv_path is None or not csv_path.is_file():
        definition = ", ".join(f"{quote(c)} {t}" for c, t in columns)
        con.execute(f"CREATE TABLE {target} ({definition})")
        return
    with csv_path.open(encoding="utf-8", errors="replace", newline="") as handle:
        header = next(csv.reader(handle), [])
    declared = {c.lower(): t for c, t in columns}
    raw = f"read_csv({quote_literal(str(csv_path))}, all_varchar=true, header=true, nullstr=['', 'NULL'], quote='\"', escape='\"', strict_mode=false)"
    con.execute(f"CREATE TEMP TABLE raw_rows AS SELECT * FROM {raw}")
    try:
        selects = []
        for name in header:
            wanted = declared.get(name.lower(), "VARCHAR")
            if wanted != "VARCHAR":
                bad = con.execute(
                    f"SELECT count(*) FROM raw_rows WHERE {quote(name)} IS NOT NULL AND TRY_CAST({quote(name)} AS {wanted}) IS NULL"
                ).fetchone()[0]
                if bad:
                    wanted = "VARCHAR"
            selects.append(f"TRY_CAST({quote(name)} AS {wanted}) AS {quote(name)}")
        con.execute(f"CREATE TABLE {target} AS SELECT {', '.join(selects)} FROM raw_rows")
    finally:
        con.execute("DROP TABLE raw_rows")


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def slug(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-") or "pair"
    name, n = base, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    used.add(name)
    return name


def held_out(db: str, sql: str) -> bool:
    """Deterministic ~10% of distinct SQL held out of the pairs."""
    digest = hashlib.sha1(f"{db}\n{sql}".encode()).digest()
    return digest[0] < 256 * HELD_OUT_SHARE


def transpile(sql: str) -> str | None:
    try:
        return sqlglot.transpile(sql, read="mysql", write="duckdb")[0]
    except sqlglot.errors.SqlglotError:
        return None


def build(data: Path, out: Path) -> dict:
    from vedder.warehouse.duckdb import DuckDBWarehouse

    if out.exists():
        shutil.rmtree(out)
    (out / "clusters").mkdir(parents=True)
    warehouse = DuckDBWarehouse(out / "warehouse.duckdb", read_only=False)
    con = warehouse.connection
    atomic_write(out / "vedder.yaml", dump_yaml({
        "warehouse": {"type": "duckdb", "path": "warehouse.duckdb"},
        "dialect": "duckdb",
        "model": "offline",
        "log": ".vedder/log.sqlite",
    }))
    questions: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with (data / "train_queries.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            questions[row["database"]][row["sql"]].append(row["question"])
    stats = defaultdict(int)
    eval_lines = []
    for db_folder in sorted((data / "databases").iterdir()):
        db = db_folder.name
        con.execute(f"CREATE SCHEMA {quote(db)}")
        tables = parse_schema(db_folder / "schema.sql")
        csv_files = {p.stem.lower(): p for p in (db_folder / "data").glob("*.csv")}
        cluster_dir = out / "clusters" / db
        (cluster_dir / "datasets").mkdir(parents=True)
        (cluster_dir / "pairs").mkdir()
        for table, columns in tables:
            load_table(con, db, table, columns, csv_files.get(table.lower()))
        title = db.replace("_", " ").strip()
        atomic_write(cluster_dir / "cluster.yaml", dump_yaml({
            "id": db,
            "title": title,
            "description": f"The {title} database from Spider: tables " + ", ".join(t for t, _ in tables) + ".",
            "owners": {"team": f"{db}-team", "members": ["spider@example.com"], "contact": f"#{db}"},
            "datasets": [f"{db}.*"],
            "default_schema": db,
        }))
        con.execute(f"SET schema = {quote_literal(db)}")
        used: set[str] = set()
        for raw_sql, phrasings in questions.get(db, {}).items():
            sql = transpile(raw_sql)
            stats["sql"] += 1
            try:
                if sql is None:
                    raise ValueError(raw_sql)
                con.execute(sql).fetchmany(1)
            except Exception:
                stats["sql_skipped"] += 1
                continue
            if held_out(db, raw_sql):
                stats["sql_held_out"] += 1
                eval_lines += [{"question": q, "sql": sql, "cluster": db, "kind": "heldout"} for q in phrasings]
                continue
            pair_id = slug(phrasings[0], used)
            atomic_write(cluster_dir / "pairs" / f"{pair_id}.yaml", dump_yaml({
                "question": phrasings[0], "sql": sql, "verified_by": "spider", "verified_at": "2018-09-01",
            }))
            stats["pairs"] += 1
            eval_lines += [{"question": q, "sql": sql, "cluster": db, "kind": "phrasing", "pair": pair_id} for q in phrasings[1:]]
        con.execute("SET schema = 'main'")
        stats["clusters"] += 1
    warehouse.close()
    profile_all(out)
    import json

    atomic_write(out / "eval.jsonl", "".join(json.dumps(line) + "\n" for line in eval_lines))
    stats["eval_items"] = len(eval_lines)
    stats["eval_phrasings"] = sum(1 for line in eval_lines if line["kind"] == "phrasing")
    return dict(stats)


def profile_all(out: Path) -> None:
    """Profile every table with vedder's own profiler (what `vedder profile` writes) into its cluster."""
    from vedder.profile import profile_tables, write_dataset
    from vedder.warehouse.duckdb import DuckDBWarehouse

    folders = {path.name.lower(): path for path in (out / "clusters").iterdir()}
    warehouse = DuckDBWarehouse(out / "warehouse.duckdb", read_only=True)
    try:
        for table, profile in profile_tables(warehouse, warehouse.tables()).items():
            write_dataset(folders[table.split(".")[0]], profile)
    finally:
        warehouse.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not (args.data / "train_queries.csv").is_file():
        print(f"error: no spider-train data at {args.data}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    stats = build(args.data, args.out)
    print(f"built {args.out} in {time.perf_counter() - started:.1f} s: {stats}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
