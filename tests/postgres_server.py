"""A throwaway PostgreSQL server for tests: initdb into a temp dir, start on a free 127.0.0.1 port (its
socket in the temp dir), load a small warehouse, stop it with ``pg_ctl stop -m immediate`` at the end.

Use the session-scoped ``postgres_server`` fixture (import it into the test module); every module that does
shares one server per test process, stopped after the last of them (or at exit, when a run is interrupted)::

    from postgres_server import postgres_server  # noqa: F401  (the fixture)

    def test_x(postgres_server):
        url = postgres_server.url                # postgresql://analyst@127.0.0.1:PORT/warehouse (no password)
        postgres_server.admin("SELECT 1")        # as the superuser, over the socket
        postgres_server.project(tmp_path)        # a vedder project on the warehouse (vedder.yaml + clusters/)

The database ``warehouse`` holds:

- ``shop.orders`` (order_id, customer_id, country, amount NUMERIC(10,2), ordered_on DATE) and ``shop.customers``
  (id, name, is_test), the view ``shop.big_orders``, and ``ref.countries`` in a second schema — all in the
  cluster ``shop`` that ``project()`` writes;
- ``hr.salaries``, in no cluster (it proves the allowlist).

The role ``analyst`` (password ``PASSWORD``) owns these tables and may write to them: only vedder's read-only
sessions and the guard keep it from doing so, which is what the tests check. ``analyst`` logs in over TCP with
scram-sha-256, so a wrong password fails like on a real server. When PostgreSQL or psycopg is missing the
fixture skips with how to install them.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

USER = "analyst"
PASSWORD = "s3cret-pw"
DATABASE = "warehouse"
INSTALL_HINT = "install PostgreSQL (Debian: apt-get install -y postgresql) to run the PostgreSQL tests"

WAREHOUSE_SQL = """
CREATE SCHEMA shop AUTHORIZATION analyst;
CREATE SCHEMA ref AUTHORIZATION analyst;
CREATE SCHEMA hr AUTHORIZATION analyst;
SET ROLE analyst;
CREATE TABLE shop.orders (order_id integer PRIMARY KEY, customer_id integer, country varchar(2), amount numeric(10,2), ordered_on date);
INSERT INTO shop.orders VALUES
  (1, 10, 'US', 5.00, '2026-10-01'), (2, 11, 'US', 7.50, '2026-10-03'), (3, 12, 'SE', 3.00, '2026-10-04'),
  (4, 10, 'US', 1.00, '2026-11-02'), (5, 13, 'GB', 9.00, '2026-11-05'), (6, 14, 'SE', 12.25, '2026-11-09');
CREATE TABLE shop.customers (id integer PRIMARY KEY, name text, is_test boolean);
INSERT INTO shop.customers VALUES (10, 'Ada', false), (11, 'Bo', false), (12, 'Cy', true), (13, 'Di', false), (14, 'Ed', false);
CREATE VIEW shop.big_orders AS SELECT order_id, country, amount FROM shop.orders WHERE amount >= 5;
CREATE TABLE ref.countries (code varchar(2) PRIMARY KEY, name text);
INSERT INTO ref.countries VALUES ('US', 'United States'), ('SE', 'Sweden'), ('GB', 'United Kingdom');
CREATE TABLE hr.salaries (name text, salary integer);
INSERT INTO hr.salaries VALUES ('Ada', 100000), ('Bo', 90000);
CREATE SEQUENCE shop.order_ids;
RESET ROLE;
"""


def find_bindir() -> Path | None:
    """The folder of initdb/pg_ctl: PG_BINDIR, `pg_config --bindir`, or the newest /usr/lib/postgresql/*/bin."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    if shutil.which("pg_config"):
        result = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(result.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0, reverse=True)
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One server in a temp dir. ``start()`` takes a few seconds; ``stop()`` is idempotent."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="vedder-pg-"))
        self.data = self.base / "data"
        self.port = 0
        self.running = False
        self.start_s = 0.0
        # postgres refuses to run as root: as root, the server (and initdb) run as the `postgres` OS user.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def password(self) -> str:
        return PASSWORD

    def _run(self, *command: str) -> None:
        result = subprocess.run([*self._as, *command], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            log = self.base / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}\n{tail}")

    def start(self) -> "PostgresServer":
        started = time.perf_counter()
        atexit.register(self.stop)  # a crashed or interrupted run (a script, a test process) leaves no server behind
        if self._as:
            shutil.chown(self.base, "postgres")
        pwfile = self.base / "pwfile"
        pwfile.write_text("postgres-admin\n")
        if self._as:
            shutil.chown(pwfile, "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--no-sync", "--no-instructions",
                  "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C")
        for attempt in range(5):
            self.port = free_port()
            options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=40 -c shared_buffers=16MB")
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "server.log"),
                          "-o", options, "-w", "-t", "30", "start")
                break
            except RuntimeError:
                if attempt == 4:
                    raise
        self.running = True
        self.admin(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
        self.admin(f"CREATE DATABASE {DATABASE} OWNER {USER}")
        self.admin(WAREHOUSE_SQL, database=DATABASE)
        self.start_s = time.perf_counter() - started
        return self

    def admin(self, sql: str, database: str = "postgres") -> list[tuple]:
        """Run ``sql`` as the superuser over the socket (autocommit); the rows of the last statement."""
        import psycopg

        with psycopg.connect(host=str(self.base), port=self.port, user="postgres", dbname=database, autocommit=True) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def project(self, root: Path, *, model: str = "offline", extra: str = "") -> Path:
        """A vedder project in ``root`` on this warehouse: vedder.yaml (password from VEDDER_TEST_PG_PASSWORD,
        which the caller sets) and the cluster ``shop`` (shop.orders, shop.customers, shop.big_orders,
        ref.countries) with two vetted pairs written in postgres SQL."""
        files = {
            "vedder.yaml": f"""
                warehouse: {{type: postgres, url: "{self.url}", password_env: VEDDER_TEST_PG_PASSWORD}}
                model: {model}
                {extra}
            """,
            "clusters/shop/cluster.yaml": """
                id: shop
                title: Shop orders
                description: Orders, customers and countries of the web shop.
                owners: {team: commerce-analytics, members: [ada], contact: "#commerce"}
                keywords: [orders, revenue, customers]
                datasets: [shop.orders, shop.customers, shop.big_orders, ref.countries]
                default_schema: shop
            """,
            "clusters/shop/datasets/shop.orders.yaml": """
                table: shop.orders
                description: One row per order.
                row_count: 6
                columns:
                  - {name: order_id, type: INTEGER, description: Order id}
                  - {name: customer_id, type: INTEGER, description: "Buyer, see shop.customers.id"}
                  - name: country
                    type: CHARACTER VARYING(2)
                    description: ISO country code of the buyer
                    distinct_count: 3
                    common_values: [{value: US, frequency: 0.5}, {value: SE, frequency: 0.33}, {value: GB, frequency: 0.17}]
                  - {name: amount, type: "NUMERIC(10,2)", description: Order value in EUR}
                  - {name: ordered_on, type: DATE, description: Day of the order}
            """,
            "clusters/shop/datasets/shop.customers.yaml": """
                table: shop.customers
                description: One row per customer.
                columns:
                  - {name: id, type: INTEGER, description: Customer id}
                  - {name: name, type: TEXT, description: Customer name}
                  - {name: is_test, type: BOOLEAN, description: Test account}
            """,
            "clusters/shop/datasets/shop.big_orders.yaml": """
                table: shop.big_orders
                description: Orders of at least 5 EUR (a view).
                columns:
                  - {name: order_id, type: INTEGER, description: Order id}
                  - {name: country, type: CHARACTER VARYING(2), description: ISO country code}
                  - {name: amount, type: "NUMERIC(10,2)", description: Order value in EUR}
            """,
            "clusters/shop/datasets/ref.countries.yaml": """
                table: ref.countries
                description: Country names by ISO code.
                columns:
                  - {name: code, type: CHARACTER VARYING(2), description: ISO country code}
                  - {name: name, type: TEXT, description: Country name}
            """,
            "clusters/shop/pairs/revenue-per-country.yaml": """
                question: What was the revenue per country in November 2026?
                sql: |
                  SELECT c.name AS country, SUM(o.amount) AS revenue
                  FROM shop.orders AS o JOIN ref.countries AS c ON c.code = o.country
                  WHERE o.ordered_on >= DATE '2026-11-01' AND o.ordered_on < DATE '2026-12-01'
                  GROUP BY c.name
                  ORDER BY revenue DESC
                verified_by: ada
                verified_at: '2026-11-20'
            """,
            "clusters/shop/pairs/orders-in-country.yaml": """
                question: How many orders came from the US?
                sql: |
                  SELECT COUNT(*)::integer AS orders, MAX(ordered_on) AS last_order
                  FROM shop.orders
                  WHERE country = 'US'
                verified_by: ada
                verified_at: '2026-11-20'
            """,
        }
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return root

    def stop(self) -> None:
        if self.running:
            self.running = False
            subprocess.run([*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


_shared: PostgresServer | None = None
_users = 0


def shared_server() -> PostgresServer:
    """The one server of this test process, started on first use; skips the test when it cannot exist here."""
    global _shared
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install 'vedder[postgres]' (scripts/setup.sh does) to run the PostgreSQL tests")
    if _shared is None:
        bindir = find_bindir()
        if bindir is None:
            pytest.skip(f"no PostgreSQL server binaries (initdb, pg_ctl) found: {INSTALL_HINT}")
        if os.geteuid() == 0 and not shutil.which("runuser"):
            pytest.skip("running as root needs `runuser` to start PostgreSQL as the postgres user")
        server = PostgresServer(bindir)
        try:
            server.start()
        except Exception:
            server.stop()
            raise
        _shared = server
    return _shared


@pytest.fixture(scope="session")
def postgres_server():
    """The shared server; stopped after the last module that uses it, whether its tests passed or not."""
    global _shared, _users
    server = shared_server()
    _users += 1
    try:
        yield server
    finally:
        _users -= 1
        if _users == 0:
            server.stop()
            _shared = None
