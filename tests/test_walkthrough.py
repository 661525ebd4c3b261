"""A demanding user's walkthrough of the README: bad input, hostile environments, narrow terminals.

Each test pins a defect the walkthrough found: the command must answer with ``error: …`` / ``hint: …`` and
a non-zero exit code (never a traceback), keep the user's files intact, and render what the user needs.
Real DuckDB (a small demo warehouse), the CLI through Typer's CliRunner or a real subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vedder.cli import app
from demo_project import copy_demo

REPO = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("walkthrough"), scale=0.05)


def run(demo_dir: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, [*args, "--project", str(demo_dir)], env=env)


def assert_user_error(result, exit_code: int, *words: str) -> None:
    """One ``error:`` line and a ``hint:``, the given exit code, no traceback."""
    assert result.exit_code == exit_code, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert "error" in result.stderr and "hint: " in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def project_with(tmp_path: Path, demo_dir: Path, settings: str) -> Path:
    """A copy of the demo project whose vedder.yaml ends with ``settings``, on the same warehouse."""
    root = tmp_path / "project"
    shutil.copytree(demo_dir / "clusters", root / "clusters")
    config = (demo_dir / "vedder.yaml").read_text().replace(".vedder/warehouse.duckdb", str(demo_dir / ".vedder" / "warehouse.duckdb"))
    (root / "vedder.yaml").write_text(config + settings + "\n")
    return root


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


AGENT_QUESTION = "How many payments failed in 2025?"
"""Routed to revenue, and no vetted pair answers it: with a model, the agent's (a pair's question is answered from it)."""


def test_ask_error_in_text_says_what_went_wrong(demo_dir, tmp_path):
    """An agent run that fails (here: the model server refuses connections) names the failure, not just a hint."""
    root = project_with(tmp_path, demo_dir, f"model_options: {{api_base: 'http://127.0.0.1:{closed_port()}/v1', num_retries: 0}}")
    result = CliRunner().invoke(app, ["ask", AGENT_QUESTION, "--model", "openai/local", "--project", str(root)])
    assert result.exit_code == 1, result.output
    said = " ".join(result.stderr.split())
    assert said.startswith("error model openai/local at http://127.0.0.1:"), result.stderr
    assert "after 1 attempt" in said, result.stderr


def test_local_openai_compatible_server_needs_no_api_key(demo_dir, tmp_path, monkeypatch):
    """README: `VEDDER_MODEL=openai/my-model` with only model_options.api_base (llama.cpp, vLLM) must reach the server."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    root = project_with(tmp_path, demo_dir, f"model_options: {{api_base: 'http://127.0.0.1:{closed_port()}/v1', num_retries: 0}}")
    result = CliRunner().invoke(app, ["ask", AGENT_QUESTION, "--json", "--project", str(root)],
                                env={"VEDDER_MODEL": "openai/my-model"})
    answer = json.loads(result.stdout)
    assert answer["status"] == "error" and "Connection error" in answer["error"], answer["error"]
    assert "credentials" not in answer["error"] and "API key" not in answer["error"]


def test_missing_api_key_fails_at_once_naming_the_variable(demo_dir, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = run(demo_dir, "ask", AGENT_QUESTION, "--model", "gpt-4o-mini", "--json")
    answer = json.loads(result.stdout)
    assert result.exit_code == 5 and answer["status"] == "error"
    assert "OPENAI_API_KEY" in answer["error"] and "attempts" not in answer["error"], answer["error"]
    assert "API key" in answer["hint"]


def test_warehouse_locked_by_another_process_names_it(demo_dir):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); sys.stdin.read()",
         str(demo_dir / ".vedder" / "warehouse.duckdb")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = run(demo_dir, "query", "SELECT count(*) FROM listening.users")
    finally:
        holder.communicate("")
    assert_user_error(result, 3, f"locked by another process (PID {holder.pid}", "close it")


def test_warehouse_path_that_is_a_folder_says_so(demo_dir, tmp_path):
    result = run(demo_dir, "query", "SELECT count(*) FROM listening.users", env={"VEDDER_WAREHOUSE": str(tmp_path)})
    assert_user_error(result, 3, "is a folder, not a DuckDB file")


@pytest.mark.parametrize("args, words", [
    (["--port", "99999"], ["99999", "1<=x<=65535"]),
    (["--port", "0"], ["0 is not in the range"]),
    (["--host", "no.such.host.invalid"], ["cannot listen on no.such.host.invalid", "--host"]),
])
def test_mcp_http_bad_address_is_a_usage_error(demo_dir, args, words):
    result = run(demo_dir, "mcp", "--http", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, OverflowError)
    for word in words:
        assert word in result.stderr, result.stderr


VEDDER = [sys.executable, "-c", "from vedder.cli import main; main()"]


def run_read_only(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """Run vedder in a subprocess while ``folder`` cannot be written: a read-only bind mount when we are root
    (root ignores permissions), else permissions without write bits."""
    if os.geteuid() != 0:
        modes = {path: path.stat().st_mode for path in [folder, *folder.rglob("*")] if path.is_dir()}
        for path in modes:
            path.chmod(0o555)
        try:
            return subprocess.run([*VEDDER, *args], capture_output=True, text=True, timeout=120)
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
    if not shutil.which("unshare") or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("running as root without mount namespaces: cannot make a folder read-only")
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, str(folder), *VEDDER, *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [
    ["profile", "revenue"],
    ["cluster", "new", "plans", "--tables", "revenue.plans", "--owner", "Revenue Analytics"],
    ["propose", "listening", "--history", str(REPO / "history" / "queries.jsonl"), "--no-pr"],
], ids=["profile", "cluster-new", "propose"])
def test_read_only_clusters_folder_is_a_clear_error_and_changes_nothing(demo_dir, tmp_path, args):
    root = project_with(tmp_path, demo_dir, "")
    before = {path: path.read_bytes() for path in (root / "clusters").rglob("*") if path.is_file()}
    result = run_read_only(root / "clusters", *args, "--project", str(root))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-2].startswith("error: cannot write in " + str(root / "clusters")), result.stderr
    assert result.stderr.splitlines()[-1].startswith("hint: check the folder's permissions")
    assert {path: path.read_bytes() for path in (root / "clusters").rglob("*") if path.is_file()} == before


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="watches /proc for the warehouse being opened")
def test_ctrl_c_during_a_query_exits_130_without_a_traceback(demo_dir):
    warehouse = demo_dir / ".vedder" / "warehouse.duckdb"
    slow = "SELECT count(*) FROM listening.events a, listening.events b WHERE (a.event_id * b.event_id) % 7 = 3"
    process = subprocess.Popen([*VEDDER, "query", slow, "--project", str(demo_dir)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        fds = Path(f"/proc/{process.pid}/fd")
        while process.poll() is None and not any(_points_at(fd, warehouse) for fd in fds.iterdir()):
            time.sleep(0.05)
        time.sleep(0.5)  # opened: the guard and the query start within milliseconds
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err and "RuntimeError" not in err, err
    assert err.splitlines() == ["interrupted"], err


@pytest.mark.parametrize("args", [["chat"], ["review", "listening"]], ids=["input", "prompt"])
def test_ctrl_c_at_a_prompt_says_interrupted_and_exits_130(demo_dir, tmp_path, args):
    """Waiting for input (chat's `?`, a click prompt): `interrupted` once on stderr, exit 130, no traceback."""
    root = project_with(tmp_path, demo_dir, "")
    proposals = root / "clusters" / "listening" / "proposals"
    proposals.mkdir()
    (proposals / "0badc0de.yaml").write_text("id: 0badc0de\nquestion: How many users?\nsql: SELECT count(*) FROM listening.users\n"
                                            "fingerprint: 0badc0de00000000\nscore: 3.0\nprovenance: {runs: 3, users: 2}\n")
    process = subprocess.Popen([*VEDDER, *args, "--no-pr" if args[0] == "review" else "--verbose", "--project", str(root)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        process.stdout.readline()  # the first line is out: the prompt comes next
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert err.splitlines() == ["interrupted"], err


def _points_at(fd: Path, target: Path) -> bool:
    try:
        return Path(os.readlink(fd)) == target
    except OSError:
        return False


@pytest.mark.parametrize("setting, words", [
    ("query: {row_limit: 0}", ["query.row_limit is 0; it must be at least 1"]),
    ("query: {row_limit: -1}", ["query.row_limit is -1"]),
    ("query: {timeout_s: 0}", ["query.timeout_s is 0; it must be above 0"]),
    ("context: {token_budget: 0}", ["context.token_budget is 0; it must be at least 100"]),
    ("agent: {max_steps: 0}", ["agent.max_steps is 0; it must be at least 1 and at most 100"]),
    ("dialect: nosuch", ["unknown SQL dialect 'nosuch'"]),
    ("dialect: Postgres", ["unknown SQL dialect 'Postgres'"]),
    ("query: {row_limit: lots}", ["query.row_limit is 'lots'; it must be a whole number"]),
    ("query: {row_limit: 2.5}", ["query.row_limit is 2.5; it must be a whole number"]),
    ("query: {timeout_s: [1]}", ["query.timeout_s is [1]; it must be a number"]),
    ("agent: {max_steps: true}", ["agent.max_steps is True; it must be a whole number"]),
    ("agent: {vetted_first: 'no'}", ["agent.vetted_first is 'no'; it must be true or false"]),
    ("health: {fail_under: high}", ["health.fail_under is 'high'"]),
    ("query: 5", ["`query` must be a mapping of settings, not 5"]),
    ("query: {timeout_s: .nan}", ["query.timeout_s is nan; it must be a number"]),
    ("query: {timeout_s: .inf}", ["query.timeout_s is inf; it must be a number"]),
    ("health: {fail_under: 500}", ["health.fail_under is 500; it must be at least 0 and at most 100"]),
    ("health: {fail_under: .nan}", ["health.fail_under is nan; it must be a number"]),
])
def test_settings_no_command_can_work_with_are_config_errors(demo_dir, tmp_path, setting, words):
    """A row limit of 0 used to return no rows, a timeout of 0 to interrupt every query, a bad dialect to crash."""
    root = project_with(tmp_path, demo_dir, "")
    config = yaml.safe_load((root / "vedder.yaml").read_text()) | yaml.safe_load(setting)
    (root / "vedder.yaml").write_text(yaml.safe_dump(config))
    result = run(root, "query", "SELECT count(*) FROM listening.users")
    assert_user_error(result, 2, "vedder.yaml", *words)


def test_valid_dialect_with_settings_is_accepted(demo_dir, tmp_path):
    root = project_with(tmp_path, demo_dir, "")
    config = (root / "vedder.yaml").read_text().replace("dialect: duckdb", "dialect: 'duckdb, normalization_strategy = lowercase'")
    (root / "vedder.yaml").write_text(config)
    assert run(root, "query", "SELECT count(*) FROM listening.users").exit_code == 0


@pytest.mark.parametrize("args", [
    ["ask", "What does each plan cost per month?", "--cluster", ""],
    ["context", "What does each plan cost per month?", "--cluster", " "],
    ["query", "SELECT count(*) FROM revenue.plans", "--cluster", ""],
    ["log", "--cluster", ""],
    ["chat", "--cluster", ""],
], ids=["ask", "context", "query", "log", "chat"])
def test_empty_cluster_id_is_a_usage_error(demo_dir, args):
    """`--cluster ""` used to mean 'no cluster': ask routed anyway, log listed every cluster."""
    result = run(demo_dir, *args)
    assert result.exit_code == 2, result.output
    assert "the cluster id is empty" in result.stderr


def test_chat_with_an_unknown_cluster_fails_before_the_first_question(demo_dir):
    result = CliRunner().invoke(app, ["chat", "--cluster", "nope", "--project", str(demo_dir)], input="hello\n:quit\n")
    assert_user_error(result, 2, "unknown cluster 'nope'")
    assert "?" not in result.stdout


def test_log_keeps_ids_and_times_whole_on_a_narrow_terminal(demo_dir):
    asked = json.loads(run(demo_dir, "ask", "What does each plan cost per month?", "--json").stdout)
    result = run(demo_dir, "log", env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    entry = json.loads(run(demo_dir, "log", "--json").stdout)[0]
    assert asked["conversation_id"] in result.stdout  # what `vedder feedback` needs, never cut to '3f…'
    assert entry["created_at"][:16].replace("T", " ") in result.stdout
    assert "What does each plan cost per" in result.stdout and "…" not in result.stdout


@pytest.mark.parametrize("args, words", [
    (["--since", ""], ["cannot read --since ''"]),
    (["--cluster", "lisening"], ["unknown cluster 'lisening'"]),
])
def test_log_bad_filters_are_errors_not_an_unfiltered_or_empty_log(demo_dir, args, words):
    run(demo_dir, "ask", "What does each plan cost per month?")
    assert_user_error(run(demo_dir, "log", *args), 2, *words)


def test_clusters_keeps_ids_whole_on_a_narrow_terminal(demo_dir):
    result = run(demo_dir, "clusters", env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    assert {"listening", "podcasts", "revenue"} <= set(result.stdout.split())  # the ids other commands take


@pytest.mark.parametrize("args, words", [
    (["context", "What does each plan cost?", "--budget", "0"], ["--budget", "0 is not in the range x>=100"]),
    (["health", "--fail-under", "101"], ["--fail-under", "101.0 is not in the range 0<=x<=100"]),
    (["health", "--fail-under", "-5"], ["--fail-under"]),
])
def test_numbers_outside_their_range_are_usage_errors(demo_dir, args, words):
    """--budget 0 built a context over its budget; --fail-under 101 failed every cluster, -5 passed every one."""
    result = run(demo_dir, *args)
    assert result.exit_code == 2, result.output
    for word in words:
        assert word in result.stderr, result.stderr


def test_chat_rating_before_any_answer_says_so(demo_dir):
    result = CliRunner().invoke(app, ["chat", "--project", str(demo_dir)], input=":down\n:quit\n")
    assert result.exit_code == 0, result.output
    assert "nothing to rate yet" in result.stdout  # was silently ignored


def test_project_option_accepts_the_vedder_yaml_file_itself(demo_dir):
    result = CliRunner().invoke(app, ["clusters", "--json", "--project", str(demo_dir / "vedder.yaml")])
    assert result.exit_code == 0, result.output  # was "no vedder.yaml in …/vedder.yaml"
    assert [c["id"] for c in json.loads(result.stdout)] == ["listening", "podcasts", "revenue"]


def help_examples() -> dict[str, str]:
    """Each command's ``Example: vedder …`` line from its --help text (subcommands as ``cluster new``)."""
    import typer.main

    examples = {}
    pending = [("", command) for command in typer.main.get_command(app).commands.values()]
    while pending:
        prefix, command = pending.pop()
        name = f"{prefix}{command.name}"
        if hasattr(command, "commands"):
            pending += [(f"{name} ", sub) for sub in command.commands.values()]
        for line in (command.help or "").splitlines():
            if line.strip().startswith("Example: vedder "):
                examples[name] = line.strip().removeprefix("Example: ").split("   ")[0]
    return examples


@pytest.mark.parametrize("name", ["ask", "query", "log", "profile", "clusters"])
def test_help_examples_work_on_the_demo(demo_dir, tmp_path, name):
    """Copy-pasted from --help, an example must work on the demo project (ask: answered, not 'not covered')."""
    import shlex

    root = project_with(tmp_path, demo_dir, "")
    words = shlex.split(help_examples()[name])
    assert words[0] == "vedder"
    result = CliRunner().invoke(app, [*words[1:], "--project", str(root)])
    assert result.exit_code == 0, result.output
    if name == "ask":
        assert result.stdout.startswith("answered"), result.stdout


def test_help_examples_quote_table_patterns():
    """An unquoted `podcasts.*` is a shell glob."""
    assert "--tables 'podcasts.*'" in help_examples()["cluster new"]


@pytest.mark.parametrize("args, words, hint", [
    (["query", "SELECT 1", "--bogus"], ["error: No such option: --bogus"], "hint: vedder query --help"),
    (["context", "What does each plan cost?", "--budget", "zero"], ["error: Invalid value for '--budget'", "'zero'"], "hint: vedder context --help"),
    (["ask"], ["error: Missing argument 'words'"], "hint: vedder ask --help"),
    (["cluster", "new", "plans", "--bogus"], ["error: No such option: --bogus"], "hint: vedder cluster new --help"),
    (["nosuch"], ["error: No such command 'nosuch'"], "hint: vedder --help"),
    (["--bogus", "clusters"], ["error: No such option: --bogus"], "hint: vedder --help"),
], ids=["option", "value", "argument", "subcommand-option", "command", "root-option"])
def test_flag_errors_look_like_every_other_error(demo_dir, args, words, hint):
    """Click's own 'Usage: … Try … Error: …' block becomes `error:` plus `hint: vedder COMMAND --help`, exit 2."""
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[1] == hint, result.stderr
    for word in words:
        assert word in lines[0], result.stderr
    assert "Usage:" not in result.output and "Try '" not in result.output


def test_no_arguments_still_show_the_help():
    result = CliRunner().invoke(app, [])
    assert "Usage: vedder" in result.output and "error:" not in result.output


ERROR_KEYS = {"status", "error", "hint", "exit_code"}


@pytest.mark.parametrize("args, env, exit_code, words", [
    (["query", "SELECT count(*) FROM listening.users", "--json"], {"VEDDER_WAREHOUSE": "/nonexistent/w.duckdb"}, 3, "does not exist"),
    (["context", "What does each plan cost?", "--cluster", "nope", "--json"], None, 2, "unknown cluster 'nope'"),
    (["log", "--cluster", "nope", "--json"], None, 2, "unknown cluster 'nope'"),
    (["eval", "/nonexistent/questions.jsonl", "--json"], None, 2, "questions.jsonl"),
    (["health", "nope", "--format", "json"], None, 2, "unknown cluster 'nope'"),
    (["clusters", "--json"], {"VEDDER_MODEL": ""}, None, None),
    (["query", "SELECT 1", "--json", "--limit", "0"], None, 2, "--limit"),
], ids=["query-warehouse", "context", "log", "eval", "health", "clusters-ok", "usage"])
def test_errors_under_json_print_one_json_object(demo_dir, args, env, exit_code, words):
    """`… --json | jq` must get JSON when the command fails before any answer exists, as well as error:/hint:."""
    result = run(demo_dir, *args, env=env)
    document = json.loads(result.stdout)
    if exit_code is None:
        assert result.exit_code == 0 and isinstance(document, list)
        return
    assert result.exit_code == exit_code, result.output
    assert set(document) == ERROR_KEYS and document["status"] == "error" and document["exit_code"] == exit_code
    assert words in document["error"] and document["hint"], document
    assert result.stderr.startswith(f"error: {document['error']}\nhint: {document['hint']}"), result.stderr


@pytest.mark.parametrize("args, exit_code", [
    (["--cluster", "nope"], 2),
    (["--model", "offline"], 3),
], ids=["unknown-cluster", "missing-warehouse"])
def test_ask_json_errors_follow_the_answer_schema(demo_dir, args, exit_code):
    import jsonschema

    env = {"VEDDER_WAREHOUSE": "/nonexistent/w.duckdb"} if exit_code == 3 else None
    result = run(demo_dir, "ask", "What does each plan cost per month?", "--json", *args, env=env)
    assert result.exit_code == exit_code, result.output
    answer = json.loads(result.stdout)
    for schema in (REPO / "schemas" / "answer.schema.json", REPO / "vedder" / "schemas" / "answer.schema.json"):
        jsonschema.validate(answer, json.loads(schema.read_text()))
    assert answer["status"] == "error" and answer["exit_code"] == exit_code and answer["hint"]
    assert answer["question"] == "What does each plan cost per month?"
    assert "error: " in result.stderr and "hint: " in result.stderr


@pytest.mark.parametrize("args", [[], ["--json"]], ids=["text", "json"])
def test_an_ascii_terminal_degrades_instead_of_crashing(demo_dir, args):
    """PYTHONIOENCODING=ascii: characters the stream cannot encode ('→' of an adaptation) are replaced in text,
    escaped in JSON; never a UnicodeEncodeError traceback."""
    question = "What were the top 5 tracks in Sweden in October 2026?"
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    result = subprocess.run([*VEDDER, "ask", question, *args, "--project", str(demo_dir)], capture_output=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr.decode("ascii", "replace")
    assert b"Traceback" not in result.stderr
    text = result.stdout.decode("ascii")  # every byte is ASCII
    if args:
        assert "\u2192" in json.loads(text)["answer"]  # escaped, not lost
    else:
        assert text.startswith("answered") and "'US' ? 'SE'" in text, text


@pytest.mark.parametrize("args, words", [
    (["review", "nope", "--accept", "9c436f1b"], ["unknown cluster 'nope'", "`vedder clusters` lists"]),
    (["review", "lisening", "--reject", "9c436f1b", "--reason", "r"], ["unknown cluster 'lisening'", "did you mean 'listening'?"]),
    (["review", "lisening"], ["unknown cluster 'lisening'", "did you mean 'listening'?"]),
    (["query", "SELECT 1", "--cluster", "revenu"], ["unknown cluster 'revenu'", "did you mean 'revenue'?"]),
], ids=["accept", "reject", "interactive", "query"])
def test_an_unknown_cluster_says_so_with_a_did_you_mean(demo_dir, args, words):
    """`review nope --accept ID` said "no proposal 'nope'"."""
    assert_user_error(run(demo_dir, *args), 2, *words)


def test_review_of_an_unknown_proposal_id_still_says_no_proposal(demo_dir):
    assert_user_error(run(demo_dir, "review", "deadbeef", "--accept"), 2, "no proposal 'deadbeef' in any cluster")


@pytest.mark.parametrize("sql, words, hint", [
    ("SELECT count(*) FROM nowhere.things", ["no cluster covers nowhere.things"],
     ["clusters: listening, podcasts, revenue", "vedder cluster new ID --tables 'nowhere.*' --owner TEAM"]),
    ("SELECT count(*) FROM information_schema.tables", ["information_schema.tables is a system catalog, not a table a cluster can hold"],
     ["`vedder clusters` lists the clusters"]),
    ("SELECT count(*) FROM listening.users u, nowhere.things t", ["no cluster covers nowhere.things"], ["--tables 'nowhere.*'"]),
    ("SELECT count(*) FROM listening.users u, revenue.plans p", ["no single cluster covers listening.users (listening)",
                                                                 "and revenue.plans (revenue)"], ["one cluster's tables"]),
], ids=["uncovered", "system-catalog", "partly-uncovered", "two-clusters"])
def test_query_on_tables_no_cluster_covers_says_how_to_add_them(demo_dir, sql, words, hint):
    """The hint said `pass --cluster ID`, which cannot help when no cluster has the table."""
    result = run(demo_dir, "query", sql)
    assert_user_error(result, 4, *words)
    said = result.stderr.split("hint: ", 1)[1]
    assert "--cluster" not in said, said
    for word in hint:
        assert word in said, said


def unwritable_log(tmp_path: Path) -> dict[str, str]:
    """VEDDER_LOG under a regular file: no folder can be made there, whoever runs the test (root included)."""
    (tmp_path / "not-a-folder").write_text("")
    return {"VEDDER_LOG": str(tmp_path / "not-a-folder" / "log.sqlite")}


@pytest.mark.parametrize("args", [[], ["--json"]], ids=["text", "json"])
def test_ask_answers_when_the_log_cannot_be_written_and_warns_once(demo_dir, tmp_path, args):
    result = run(demo_dir, "ask", "What does each plan cost per month?", *args, env=unwritable_log(tmp_path))
    assert result.exit_code == 0, result.output
    if args:
        answer = json.loads(result.stdout)
        assert answer["status"] == "answered" and answer["conversation_id"] is None
    else:
        assert result.stdout.startswith("answered") and "vedder feedback" not in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("warning: this conversation was not logged: cannot open the conversation log "), lines[0]
    assert lines[1].startswith("hint: ") and "VEDDER_LOG" in lines[1]


def test_ask_continue_needs_the_log(demo_dir, tmp_path):
    result = run(demo_dir, "ask", "--continue", "and in Germany?", env=unwritable_log(tmp_path))
    assert_user_error(result, 2, "cannot open the conversation log", "VEDDER_LOG")


def test_chat_warns_once_when_the_log_cannot_be_written(demo_dir, tmp_path):
    result = CliRunner().invoke(app, ["chat", "--project", str(demo_dir)], env=unwritable_log(tmp_path),
                                input="What does each plan cost per month?\nand in 2025?\nWhat does each plan cost per month?\n:quit\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("answered") >= 2
    assert result.stderr.count("this conversation was not logged") == 1, result.stderr


@pytest.mark.parametrize("logged_before", [False, True], ids=["no-log-yet", "existing-log"])
def test_ask_in_a_read_only_project_folder_still_answers(demo_dir, tmp_path, monkeypatch, logged_before):
    """The default log, .vedder/log.sqlite, in a folder that cannot be written."""
    monkeypatch.delenv("VEDDER_LOG")
    root = project_with(tmp_path, demo_dir, "")
    (root / ".vedder").mkdir()
    if logged_before:
        assert run(root, "ask", "What does each plan cost per month?").exit_code == 0
        assert (root / ".vedder" / "log.sqlite").is_file()
    result = run_read_only(root / ".vedder", "ask", "What does each plan cost per month?", "--project", str(root))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("answered")
    assert result.stderr.count("warning: this conversation was not logged") == 1, result.stderr
