"""Functions whose output grows with their arguments, through the real `vedder query` path (guard, run_sql, the
DuckDB warehouse with query.max_memory_mb and query.timeout_s): exit code, peak RSS and wall time of the process.

A watcher kills a process whose RSS passes --kill-mb (default 6,000) so that a case that runs away does not take the
machine with it; such a run is reported as "killed". Run from the demo project's root:

    /work/venv/bin/python benchmarks/bench_growth.py [--runs 3] [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

VEDDER = os.path.join(os.path.dirname(sys.executable), "vedder")

# A 10,000-character text per row of listening.users (50,000 rows).
_ROW_TEXT = "rpad(CAST(user_id AS VARCHAR), 10000, 'x')"

# (name, SQL): each builds a value much larger than query.max_memory_mb would allow, if nothing bounds it.
CASES = [
    ("repeat 2e9", "SELECT length(repeat('x', 2000000000)) AS n"),
    ("lpad 2e9", "SELECT length(lpad('x', 2000000000, 'y')) AS n"),
    ("rpad 2e9", "SELECT length(rpad('x', 2000000000, 'y')) AS n"),
    ("printf width 2e9", "SELECT length(printf('%2000000000d', 1)) AS n"),
    ("printf width 1e9 ×2048 rows", "SELECT max(length(printf('%1000000000d', user_id))) AS n FROM listening.users"),
    ("printf precision 2e9", "SELECT length(printf('%.2000000000f', 1.5)) AS n"),
    ("format width 2e9", "SELECT length(format('{:>2000000000}', 1)) AS n"),
    ("format width arg", "SELECT length(format('{:>{}}', 1, 2000000000)) AS n"),
    ("bar width 2e9", "SELECT length(bar(5, 0, 10, 2000000000)) AS n"),
    ("replace ×10 nested 5", "SELECT length(replace(replace(replace(replace(replace(repeat('a', 10000), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa')) AS n"),
    ("replace ×10 nested 5 ×rows", "SELECT max(length(replace(replace(replace(replace(replace(repeat('a', 10000), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'))) AS n FROM listening.users"),
    ("replace ×10 nested 4 per row", "SELECT max(length(replace(replace(replace(replace(rpad(CAST(user_id AS VARCHAR), 10000, 'a'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'))) AS n FROM listening.users"),
    ("regexp_replace \\1×10 nested 4", "SELECT length(regexp_replace(regexp_replace(regexp_replace(regexp_replace(repeat('a', 10000), '(.)', '\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1', 'g'), '(.)', '\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1', 'g'), '(.)', '\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1', 'g'), '(.)', '\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1', 'g')) AS n"),
    ("regexp_replace \\1×10 nested 3 per row", "SELECT max(length(regexp_replace(regexp_replace(regexp_replace(rpad(CAST(user_id AS VARCHAR), 10000, 'a'), '(.)', '\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1', 'g'), '(.)', '\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1', 'g'), '(.)', '\\1\\1\\1\\1\\1\\1\\1\\1\\1\\1', 'g'))) AS n FROM listening.users"),
    ("string_agg cross join", "SELECT length(string_agg(a.name || b.name, ',')) AS n FROM listening.artists a, listening.artists b, listening.artists c"),
    ("concat CTE ×10 per level", "WITH a AS (SELECT repeat('x', 10000) AS s), b AS (SELECT s||s||s||s||s||s||s||s||s||s AS s FROM a), c AS (SELECT s||s||s||s||s||s||s||s||s||s AS s FROM b), d AS (SELECT s||s||s||s||s||s||s||s||s||s AS s FROM c), e AS (SELECT s||s||s||s||s||s||s||s||s||s AS s FROM d) SELECT length(s) AS n FROM e"),
    ("concat CTE ×10 per level ×rows", "WITH a AS (SELECT rpad(CAST(user_id AS VARCHAR), 10000, 'x') AS s FROM listening.users), b AS (SELECT s||s||s||s||s||s||s||s||s||s AS s FROM a), c AS (SELECT s||s||s||s||s||s||s||s||s||s AS s FROM b), d AS (SELECT s||s||s||s||s||s||s||s||s||s AS s FROM c) SELECT max(length(s)) AS n FROM d"),
    ("list_concat doubling", "WITH a AS (SELECT range(10000) AS l), b AS (SELECT list_concat(l, l, l, l, l, l, l, l, l, l) AS l FROM a), c AS (SELECT list_concat(l, l, l, l, l, l, l, l, l, l) AS l FROM b), d AS (SELECT list_concat(l, l, l, l, l, l, l, l, l, l) AS l FROM c), e AS (SELECT list_concat(l, l, l, l, l, l, l, l, l, l) AS l FROM d) SELECT len(l) AS n FROM e"),
    ("array_concat doubling ×rows", "WITH a AS (SELECT range(user_id % 7, 10000) AS l FROM listening.users), b AS (SELECT array_concat(l, l, l, l, l, l, l, l, l, l) AS l FROM a), c AS (SELECT array_concat(l, l, l, l, l, l, l, l, l, l) AS l FROM b) SELECT max(len(l)) AS n FROM c"),
    ("unnest(range) in subqueries", "SELECT count(*) AS n FROM (SELECT unnest(range(10000)) AS a) x, (SELECT unnest(range(10000)) AS b) y, (SELECT unnest(range(10000)) AS c) z"),
    ("recursive CTE doubling", "WITH RECURSIVE r(s, k) AS (SELECT 'x', 0 UNION ALL SELECT s || s, k + 1 FROM r WHERE k < 40) SELECT max(length(s)) AS n FROM r"),
    ("recursive CTE list doubling", "WITH RECURSIVE r(l, k) AS (SELECT [1], 0 UNION ALL SELECT list_concat(l, l), k + 1 FROM r WHERE k < 40) SELECT max(len(l)) AS n FROM r"),
    ("repeat(blob)", "SELECT max(octet_length(repeat(CAST(name AS BLOB), 3))) AS n FROM listening.artists"),
    ("concat of many repeats", "SELECT length(concat(" + ", ".join(["repeat('x', 10000)"] * 200) + ")) AS n"),
    # Left open by the first pass (list, struct and JSON builders, lambdas, separators, encoders), measured before
    # bounding them: per row over listening.users (50,000 rows), each would make gigabytes per 2,048-row vector.
    ("list_value ×10 over WITH steps", "WITH a AS (SELECT range(user_id % 7, 10000) AS l FROM listening.users), b AS (SELECT flatten([l, l, l, l, l, l, l, l, l, l]) AS l FROM a), c AS (SELECT flatten([l, l, l, l, l, l, l, l, l, l]) AS l FROM b) SELECT max(len(l)) AS n FROM c"),
    ("nested [l, l] ×10 per row", "WITH a AS (SELECT range(user_id % 7, 10000) AS l FROM listening.users), b AS (SELECT [l, l, l, l, l, l, l, l, l, l] AS l FROM a), c AS (SELECT [l, l, l, l, l, l, l, l, l, l] AS l FROM b) SELECT max(len(flatten(flatten(l)))) AS n FROM c"),
    ("struct_pack ×10 over WITH steps", "WITH a AS (SELECT rpad(CAST(user_id AS VARCHAR), 10000, 'x') AS s FROM listening.users), b AS (SELECT CAST(struct_pack(k0 := s, k1 := s, k2 := s, k3 := s, k4 := s, k5 := s, k6 := s, k7 := s, k8 := s, k9 := s) AS VARCHAR) AS s FROM a), c AS (SELECT CAST({'k0': s, 'k1': s, 'k2': s, 'k3': s, 'k4': s, 'k5': s, 'k6': s, 'k7': s, 'k8': s, 'k9': s} AS VARCHAR) AS s FROM b) SELECT max(length(s)) AS n FROM c"),
    ("json_array ×10 over WITH steps", "WITH a AS (SELECT rpad(CAST(user_id AS VARCHAR), 10000, 'x') AS s FROM listening.users), b AS (SELECT CAST(json_array(s, s, s, s, s, s, s, s, s, s) AS VARCHAR) AS s FROM a), c AS (SELECT CAST(json_array(s, s, s, s, s, s, s, s, s, s) AS VARCHAR) AS s FROM b) SELECT max(length(s)) AS n FROM c"),
    ("to_json escaping nested 8", "WITH a AS (SELECT rpad(CAST(user_id AS VARCHAR), 10000, '\"') AS s FROM listening.users) SELECT max(length(" + "to_json(" * 8 + "s" + "::VARCHAR)" * 8 + ")) AS n FROM a"),
    ("hex nested 8", "SELECT max(length(" + "hex(" * 8 + _ROW_TEXT + ")" * 8 + ")) AS n FROM listening.users"),
    ("bin nested 4", "SELECT max(length(" + "bin(" * 4 + _ROW_TEXT + ")" * 4 + ")) AS n FROM listening.users"),
    ("url_encode nested 6", "SELECT max(length(" + "url_encode(" * 6 + "rpad(CAST(user_id AS VARCHAR), 10000, ' ')" + ")" * 6 + ")) AS n FROM listening.users"),
    ("bitstring 1e9", "SELECT max(length(bitstring(CAST(user_id % 2 AS VARCHAR), 1000000000))) AS n FROM listening.users"),
    ("array_to_string constant separator", "SELECT max(length(array_to_string(range(user_id % 7, 10000), repeat('x', 10000)))) AS n FROM listening.users"),
    ("list_aggregate string_agg constant separator", "SELECT max(length(list_aggregate(range(user_id % 7, 10000), 'string_agg', repeat('x', 10000)))) AS n FROM listening.users"),
    ("list_transform repeat", "SELECT max(len(list_transform(range(user_id % 7, 10000), lambda x: repeat('y', 10000)))) AS n FROM listening.users"),
    ("list_transform captured column", "WITH a AS (SELECT rpad(CAST(user_id AS VARCHAR), 10000, 'x') AS s, range(user_id % 7, 10000) AS l FROM listening.users) SELECT max(len(list_transform(l, lambda x: s))) AS n FROM a"),
    ("list_apply x || x of strings", "WITH a AS (SELECT list_transform(range(user_id % 7, 10000), lambda x: rpad(CAST(user_id AS VARCHAR), 10000, 'x')) AS l FROM listening.users) SELECT max(len(list_apply(l, lambda x: x || x))) AS n FROM a"),
    ("comprehension [s || s for x in l]", "WITH a AS (SELECT rpad(CAST(user_id AS VARCHAR), 10000, 'x') AS s, range(user_id % 7, 10000) AS l FROM listening.users) SELECT max(len([s || s for x in l])) AS n FROM a"),
    ("list_reduce a || a", "SELECT max(length(list_reduce(list_transform(range(user_id % 7, 40), lambda i: CAST(i AS VARCHAR)), lambda a, x: a || a))) AS n FROM listening.users"),
    ("list_select copies", "WITH a AS (SELECT rpad(CAST(user_id AS VARCHAR), 10000, 'x') AS s FROM listening.users) SELECT max(len(list_select([s], array_resize([1], 10000, 1)))) AS n FROM a"),
    ("list_resize default value", "WITH a AS (SELECT rpad(CAST(user_id AS VARCHAR), 10000, 'x') AS s FROM listening.users) SELECT max(len(list_resize([s], 10000, s))) AS n FROM a"),
    ("map of copies", "WITH a AS (SELECT rpad(CAST(user_id AS VARCHAR), 10000, 'x') AS s, range(user_id % 7, 10000) AS l FROM listening.users) SELECT max(cardinality(map(l, list_resize([s], len(l), s)))) AS n FROM a"),
    ("string_split of grown then unnest", "WITH a AS (SELECT concat(rpad(CAST(user_id AS VARCHAR), 10000, ','), rpad(CAST(user_id AS VARCHAR), 10000, ','), rpad(CAST(user_id AS VARCHAR), 10000, ','), rpad(CAST(user_id AS VARCHAR), 10000, ','), rpad(CAST(user_id AS VARCHAR), 10000, ','), rpad(CAST(user_id AS VARCHAR), 10000, ','), rpad(CAST(user_id AS VARCHAR), 10000, ','), rpad(CAST(user_id AS VARCHAR), 10000, ','), rpad(CAST(user_id AS VARCHAR), 10000, ','), rpad(CAST(user_id AS VARCHAR), 10000, ',')) AS s FROM listening.users) SELECT count(*) AS n FROM (SELECT unnest(string_split(s, ',')) AS w FROM a)"),
    ("regexp_extract_all chars", "WITH a AS (SELECT concat(rpad(CAST(user_id AS VARCHAR), 10000, 'x'), rpad(CAST(user_id AS VARCHAR), 10000, 'x'), rpad(CAST(user_id AS VARCHAR), 10000, 'x'), rpad(CAST(user_id AS VARCHAR), 10000, 'x'), rpad(CAST(user_id AS VARCHAR), 10000, 'x'), rpad(CAST(user_id AS VARCHAR), 10000, 'x'), rpad(CAST(user_id AS VARCHAR), 10000, 'x'), rpad(CAST(user_id AS VARCHAR), 10000, 'x'), rpad(CAST(user_id AS VARCHAR), 10000, 'x'), rpad(CAST(user_id AS VARCHAR), 10000, 'x')) AS s FROM listening.users) SELECT max(len(regexp_extract_all(s, '.'))) AS n FROM a"),
    ("unnest + string_agg per group", "SELECT max(length(g)) AS n FROM (SELECT k, string_agg(s, '') AS g FROM (SELECT user_id AS k, unnest(range(1000)) AS i, rpad(CAST(user_id AS VARCHAR), 10000, 'x') AS s FROM listening.users) GROUP BY k)"),
]


def run_once(sql: str, kill_mb: float) -> tuple[int | str, float, float, str]:
    """(exit code or 'killed', peak RSS in MB, wall seconds, last line of output) of one `vedder query`."""
    started = time.monotonic()
    process = subprocess.Popen([VEDDER, "query", "--json", sql], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    killed = threading.Event()

    def watch() -> None:
        while process.poll() is None:
            try:
                with open(f"/proc/{process.pid}/status") as status:
                    rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                return
            if rss_kb / 1024 > kill_mb:
                killed.set()
                process.send_signal(signal.SIGKILL)
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    watcher.join()
    try:
        answer = json.loads(output)
        said = f"n = {answer['rows'][0][0]}" if "rows" in answer else f"{answer['error']}"
    except (ValueError, KeyError, IndexError):
        said = output.strip()[-100:]
    return ("killed" if killed.is_set() else process.returncode), usage.ru_maxrss / 1024, wall, said[:140]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--kill-mb", type=float, default=6000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    for name, sql in CASES:
        if args.only and args.only not in name:
            continue
        results = [run_once(sql, args.kill_mb) for _ in range(args.runs)]
        codes = sorted({str(code) for code, *_ in results})
        rss = statistics.median(r[1] for r in results)
        wall = statistics.median(r[2] for r in results)
        print(f"{name:34} exit {'/'.join(codes):8} peak RSS {rss:8.0f} MB  wall {wall:6.2f} s  {results[-1][3]}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
