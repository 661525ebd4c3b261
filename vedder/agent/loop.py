"""The ReAct loop: the model thinks, calls a tool, reads the observation, and repeats until it answers.

Native tool calling when the model supports it (``litellm.supports_function_calling`` or
``model_options.tool_calling``), else a plain-text protocol: ``Thought / Action / Action Input`` replies
answered with ``Observation: …`` messages, ending in ``Final Answer: …``. Either way the loop is bounded
(``agent.max_steps`` model calls), tool mistakes become observations the model can correct, and the answer
rests on the last query that ran successfully.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from vedder.agent.checks import Check
    from vedder.agent.llm import Reply
    from vedder.agent.tools import Toolbox
    from vedder.project import Cluster, Project
    from vedder.warehouse import QueryResult, Warehouse

NO_SQL_HINT = "rephrase the question, or check that the cluster's tables hold what it asks about"
BOUND_HINT = "raise agent.max_steps in vedder.yaml, or ask a narrower question"
STUCK_HINT = "the model is stuck on this question: ask it more plainly, or use a stronger model"
UNCONFIRMED = "the last successful query is shown, unconfirmed."
UNCHECKED = "Not checked against the data (the model ran no query): "
DECLINED = "The model ran no query that answers this: these are its words about the cluster, not a result."


@dataclass
class AgentResult:
    """The outcome of one agent run. ``status`` is ``answered``, ``not_covered`` (the model, having run no query that
    answers it, says the cluster's tables cannot: ``hint`` says what to do) or ``error`` (``error`` and ``hint`` say why)."""

    status: str
    answer: str = ""
    sql: str | None = None
    result: "QueryResult | None" = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    tokens: int = 0
    cost: float = 0.0
    sources: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None
    model: str = ""
    cluster: str | None = None
    checks: list["Check"] = field(default_factory=list)
    """What vedder checked of the answer before presenting it (vedder.agent.checks), passed or not."""
    caveats: list[str] = field(default_factory=list)
    """Who wrote the answer and what was checked, then each check that failed: shown under the answer."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "cluster": self.cluster, "answer": self.answer, "sql": self.sql,
            "result": self.result.to_dict() if self.result else None, "steps": self.steps, "tokens": self.tokens,
            "cost": self.cost, "sources": self.sources, "error": self.error, "hint": self.hint, "model": self.model,
            "checks": [check.to_dict() for check in self.checks], "caveats": self.caveats,
        }


@dataclass
class ParsedText:
    """A reply in the plain-text protocol."""

    thought: str = ""
    action: str | None = None
    action_input: str = ""
    final_answer: str | None = None


_FIELD = re.compile(r"^\s*(Thought|Action Input|Action|Final Answer|Observation)\s*:", re.IGNORECASE | re.MULTILINE)


def parse_text_reply(text: str) -> ParsedText:
    """Split a Thought/Action/Action Input/Final Answer reply; anything after a made-up Observation is ignored.

    >>> parse_text_reply('Thought: count\\nAction: run_sql\\nAction Input: {"sql": "SELECT 1"}').action_input
    '{"sql": "SELECT 1"}'
    >>> parse_text_reply("Thought: done\\nFinal Answer: 42 orders.").final_answer
    '42 orders.'
    """
    fields: dict[str, str] = {}
    matches = list(_FIELD.finditer(text))
    for match, following in zip(matches, [*matches[1:], None]):
        name = match.group(1).lower()
        if name == "observation":
            break
        value = text[match.end(): following.start() if following else len(text)].strip()
        fields.setdefault(name, value)
        if name == "final answer" and "action" not in fields:
            break
    parsed = ParsedText(thought=fields.get("thought", ""))
    if "action" in fields:
        parsed.action = fields["action"].strip().strip("`").strip()
        parsed.action_input = _strip_fence(fields.get("action input", ""))
    elif "final answer" in fields:
        parsed.final_answer = fields["final answer"]
    elif not matches:
        parsed.thought = text.strip()
    return parsed


def _strip_fence(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else text.strip("`")
        text = text.rsplit("```", 1)[0]
    return text.strip()


def _text_arguments(toolbox: "Toolbox", tool: str, raw: str) -> dict[str, Any] | str:
    """Action Input as JSON, or as the value of a tool's only required argument (``run_sql: SELECT …``)."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        spec = toolbox.tools.get(tool)
        required = spec.parameters.get("required", []) if spec else []
        return {required[0]: raw} if len(required) == 1 and raw else raw
    return value if isinstance(value, dict) else raw


def _prompt(name: str) -> str:
    return resources.files("vedder.agent").joinpath("prompts", name).read_text(encoding="utf-8")


# How people spell the SQL dialects sqlglot names (the model writes better SQL told "PostgreSQL" than "postgres").
_DIALECT_NAMES = {"duckdb": "DuckDB", "postgres": "PostgreSQL", "bigquery": "BigQuery", "snowflake": "Snowflake",
                  "mysql": "MySQL", "sqlite": "SQLite", "redshift": "Redshift", "tsql": "SQL Server", "trino": "Trino"}


def dialect_name(dialect: str) -> str:
    """The SQL dialect as the model should read it: ``dialect_name("postgres") == "PostgreSQL"``."""
    return _DIALECT_NAMES.get(dialect.lower(), dialect)


def system_prompt(context: Any, toolbox: "Toolbox", *, native: bool, chosen_because: str | None = None) -> str:
    """The system message: instructions, the text protocol when needed, and ``context.text``."""
    parts = [_prompt("system.md").replace("{dialect}", dialect_name(toolbox.project.config.dialect)).strip()]
    if not native:
        parts.append(_prompt("text_protocol.md").replace("{tools}", toolbox.usage()).strip())
    if toolbox.alternatives:
        parts.append(routing_note(toolbox, chosen_because))
    parts.append(str(getattr(context, "text", "") or "").strip())
    return "\n\n".join(parts)


def routing_note(toolbox: "Toolbox", chosen_because: str | None = None) -> str:
    """Tells the model which other clusters fit the question about as well as the one whose context it sees,
    and why that one came first when something settled the tie (``chosen_because``: route memory's note)."""
    why = f" ({chosen_because})" if chosen_because else ""
    lines = [f"Routing note: several clusters fit this question about equally well. The context below is cluster "
             f"`{toolbox.cluster.id}`'s{why}. The other candidates:"]
    for cluster in toolbox.alternatives:
        tables = ", ".join(cluster.tables[:12]) + (" …" if len(cluster.tables) > 12 else "")
        lines.append(f"- `{cluster.id}` (team {cluster.owners.team or 'unknown'}): {cluster.title}. "
                     f"{' '.join(cluster.description.split())[:300]} Tables: {tables}.")
    lines.append("If the question is about one of those instead, call switch_cluster before anything else. Answer "
                 "from one cluster only.")
    return "\n".join(lines)


def history_messages(history: list[dict[str, Any]] | None, context_text: str) -> list[dict[str, str]]:
    """Earlier turns as user/assistant messages (question; SQL and result summary), unless the context shows them.

    build_context renders the conversation into its text when it is given the history; then nothing is repeated.
    """
    messages: list[dict[str, str]] = []
    for turn in history or []:
        if not turn.get("question") or str(turn["question"]) in context_text:
            continue
        messages.append({"role": "user", "content": str(turn["question"])})
        said = [f"SQL: {turn['sql']}" if turn.get("sql") else "", f"Result: {turn['summary']}" if turn.get("summary") else ""]
        messages.append({"role": "assistant", "content": "\n".join(s for s in said if s) or "(no answer)"})
    return messages


def follow_up(question: str, history: list[dict[str, Any]] | None) -> str:
    """The question as the model reads it, naming the last question the conversation answered with a query: a
    follow-up that changes only part of it keeps the rest, and a question of its own is still read as one.

    Qwen2.5-Coder-1.5B read "and for Sweden?" after ad clicks in October, with the conversation in the system prompt,
    as a question of its own and answered it with a nearby pair's (active premium subscribers in Sweden).

    >>> print(follow_up("and for Sweden?", [{"question": "How many orders in 2024?", "sql": "SELECT …"}]))
    and for Sweden?
    <BLANKLINE>
    (This may follow up "How many orders in 2024?": if it changes only part of that question, keep the rest of it and of its query.)
    """
    asked = [turn for turn in history or [] if turn.get("question") and turn.get("sql")]
    if not asked:
        return question
    return (f"{question}\n\n(This may follow up \"{asked[-1]['question']}\": if it changes only part of that question, keep "
            "the rest of it and of its query.)")


def context_sources(project: "Project", context: Any) -> list[dict[str, str]]:
    """Pairs and docs the context showed the model."""
    from vedder.agent.tools import doc_source, pair_source

    sources = [{"kind": "pair", "id": pair_source(pair)} for pair, _ in getattr(context, "pairs", None) or []]
    sources += [{"kind": "doc", "id": doc_source(project, doc)} for doc, _ in getattr(context, "docs", None) or []]
    return sources


class _Run:
    """State of one run: the transcript, steps, tokens and cost."""

    def __init__(self, model: str, messages: list[dict[str, Any]], on_step: Callable[[dict[str, Any]], None] | None) -> None:
        self.model = model
        self.messages = messages
        self.asked = len(messages)  # the system prompt, earlier turns and the question: what vedder sends later follows
        self.on_step = on_step
        self.steps: list[dict[str, Any]] = []
        self.tokens = 0
        self.cost = 0.0

    def count(self, reply: "Reply") -> None:
        self.tokens += reply.tokens
        self.cost += reply.cost

    def step(self, thought: str, tool: str, tool_input: Any, observation: str, ok: bool) -> None:
        step = {"step": len(self.steps) + 1, "thought": thought.strip(), "tool": tool, "input": tool_input,
                "observation": observation, "ok": ok}
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)


def run_agent(
    project: "Project",
    cluster: "Cluster",
    question: str,
    *,
    context: Any,
    warehouse: "Warehouse",
    model: str,
    max_steps: int | None = None,
    history: list[dict[str, Any]] | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    model_options: dict[str, Any] | None = None,
    alternatives: "list[Cluster] | None" = None,
    chosen_because: str | None = None,
) -> AgentResult:
    """Answer ``question`` on ``cluster`` with ``model``; ``context`` is what build_context made (``.text``).

    Authentication and unknown-model problems raise ModelError; a model that keeps timing out or failing,
    or no final answer within ``max_steps`` model calls, ends as ``status='error'`` with the steps so far.
    ``alternatives``: other clusters routing found about as fitting; the model may switch to one of them
    (``switch_cluster``), and the result names the cluster it answered from. ``chosen_because``: why ``cluster``
    came first among them (route memory's note), told to the model with the alternatives.
    """
    from vedder.agent import llm
    from vedder.agent.tools import Toolbox

    llm.check_model(model)
    options = {**project.config.model_options, **(model_options or {})}
    bound = max_steps or project.config.max_steps
    toolbox = Toolbox(project, cluster, warehouse, question=question, alternatives=list(alternatives or []), context=context,
                      history=history)
    native = llm.supports_tools(model, options)
    if not native:
        options.setdefault("stop", ["\nObservation:"])
    messages = [{"role": "system", "content": system_prompt(context, toolbox, native=native, chosen_because=chosen_because)},
                *history_messages(history, str(getattr(context, "text", "") or "")),
                {"role": "user", "content": follow_up(question, history)}]
    run = _Run(model, messages, on_step)
    previous: tuple[str, ...] | None = None
    warned = False
    for _ in range(bound):
        try:
            reply = llm.chat(model, run.messages, tools=toolbox.specs() if native else None, options=options)
        except (llm.ModelUnavailable, llm.ContextTooLong) as exc:
            return _finish(run, toolbox, project, context, status="error", error=exc.message, hint=exc.hint,
                           answer=f"Stopped: {UNCONFIRMED}" if toolbox.last_run else "")
        run.count(reply)
        said = _said(reply)
        if said == previous and run.steps and run.steps[-1]["ok"] and run.steps[-1]["tool"] not in ("run_sql", ""):
            # The same search or description again (Qwen2.5-Coder-1.5B searched "there is no tool 'read_csv'" until
            # agent.max_steps): not run again; sent a third time, the reply is stopped as stuck below.
            warned = _not_run_again(run, reply, REPEATED_CALL)
            continue
        if said == previous and run.steps and not run.steps[-1]["ok"] and not warned:
            # Told once more, plainly: Qwen2.5-Coder-1.5B resent a failing query after an error listing the columns.
            warned = _not_run_again(run, reply, f"{REPEATED_FAILURE}{run.steps[-1]['observation']}")
            continue
        if said == previous and run.steps and not run.steps[-1]["ok"]:
            # The same reply to the same failure: a model at low temperature will send it again until the bound.
            return _finish(run, toolbox, project, context, status="error", hint=STUCK_HINT,
                           error=f"the model sent the same reply twice in a row after '{_shorten(run.steps[-1]['observation'])}', "
                                 f"so it was stopped after {_steps(len(run.steps))}",
                           answer=f"Stopped: the model repeated itself; {UNCONFIRMED}" if toolbox.last_run else "")
        previous = said
        final = _native_turn(run, toolbox, reply) if native else _text_turn(run, toolbox, reply)
        if final is not None:
            return _final(run, toolbox, project, context, final)
        if toolbox.same_query_runs() >= MAX_SAME_QUERY and run.steps[-1]["tool"] == "run_sql" and run.steps[-1]["ok"]:
            return _finish(run, toolbox, project, context, status="error", hint=STUCK_HINT,
                           error=f"the model ran the same query {toolbox.same_query_runs()} times without giving an "
                                 f"answer, so it was stopped after {_steps(len(run.steps))}",
                           answer=f"Stopped: the model kept running the same query; {UNCONFIRMED}")
    return _finish(run, toolbox, project, context, status="error",
                   error=f"no final answer after {bound} steps", hint=BOUND_HINT,
                   answer=f"Stopped after {bound} steps without a final answer; {UNCONFIRMED}" if toolbox.last_run else "")


def _not_run_again(run: _Run, reply: "Reply", told: str) -> bool:
    """Answer a reply the model sent twice in a row with ``told`` instead of running it again; True (it was told)."""
    run.messages.append({"role": "assistant", "content": reply.text or None} if not reply.tool_calls else reply.message())
    for call in reply.tool_calls:
        run.messages.append({"role": "tool", "tool_call_id": call.id, "content": "Not run again."})
    run.messages.append({"role": "user", "content": told})
    run.step("", "", None, told, ok=False)
    return True


def _steps(count: int) -> str:
    return f"{count} step{'s' * (count != 1)}"


def _said(reply: "Reply") -> tuple[str, ...]:
    """What a reply says, to tell a model repeating itself: its text and tool calls, whitespace aside."""
    return (" ".join(reply.text.split()), *(f"{c.name}({' '.join(c.arguments.split())})" for c in reply.tool_calls))


def _shorten(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# Hermes-style calls, as Qwen2.5's chat template asks for them: <tool_call>{"name": …, "arguments": {…}}</tool_call>;
# Qwen2.5-Coder-1.5B also wrote them in the template's <tools> tags. A tag around JSON that names no call is no call.
_TAGGED_CALL = re.compile(r"<(tool_call|tools|function_call)>\s*(.*?)\s*(?:</\1>|$)", re.DOTALL)
_EMPTY_TAGS = re.compile(r"<(tool_call|tools|function_call)>\s*</\1>")
FENCE = re.compile(r"```[\w-]*[ \t]*\n(.*?)```", re.DOTALL)
_SQL_FENCE = re.compile(r"\A\s*```sql[ \t]*\n(.*?)```\s*\Z", re.DOTALL | re.IGNORECASE)


def tool_calls_in_text(toolbox: "Toolbox", text: str) -> list[tuple[str, dict[str, Any] | str]]:
    """[(tool, arguments)] when a model wrote its calls as text instead of making them (local models served through
    Ollama or llama.cpp often do): ``{"name": "run_sql", "arguments": {…}}`` (or ``parameters``), alone, in a code
    fence (also after some words) or in ``<tool_call>`` tags; the text protocol's Action / Action Input; a reply that is
    nothing but one SQL query (coder models answer a question with the query), or words with one fenced query not run
    yet. Empty for an answer in words.
    """
    tagged = [_json_call(toolbox, inner) for _, inner in _TAGGED_CALL.findall(text)]
    if any(call is not None for call in tagged):
        return [call for call in tagged if call is not None]
    # A call in a fence after some words ("The query does not filter … ```json {"name": "run_sql", …}```"): the
    # words are the model thinking aloud, not an answer resting on a query it ran.
    fenced = [call for block in FENCE.findall(text) if (call := _json_call(toolbox, block)) is not None]
    if fenced:
        return fenced
    call = _json_call(toolbox, text)
    if call is not None:
        return [call]
    parsed = parse_text_reply(text)
    if parsed.final_answer is None and parsed.action in toolbox.tools:
        return [(parsed.action, _text_arguments(toolbox, parsed.action, parsed.action_input))]
    dialect = toolbox.project.config.dialect
    query = lone_query(text, dialect)
    if query is None:
        # Words and one query the model has not run ("… the query should be modified to: ```sql …```"): what the
        # words say does not rest on a result, so the query runs; a query it already ran is an answer showing it.
        queries = [q for block in FENCE.findall(text) if (q := lone_query(block, dialect))]
        query = queries[0] if len(queries) == 1 and not toolbox.tried(queries[0]) else None
    if query is None and (fenced := _SQL_FENCE.match(text)):
        # A reply that is only SQL but no single query ("```sql DELETE …; SELECT …```", asked to delete rows first): the
        # guard refuses it and says why, rather than the statements being shown as the model's answer.
        query = fenced.group(1).strip()
    return [("run_sql", {"sql": query})] if query and "run_sql" in toolbox.tools else []


def _json_call(toolbox: "Toolbox", text: str) -> tuple[str, dict[str, Any] | str] | None:
    try:
        value = json.loads(_strip_fence(text))
    except json.JSONDecodeError:
        try:  # \' is no JSON escape, but models write it in SQL strings ("sql": "SELECT 'no tool \'getenv\''")
            value = json.loads(_strip_fence(text).replace("\\'", "'"))
        except json.JSONDecodeError:
            return None
    if not isinstance(value, dict):
        return None
    function = value.get("function") if isinstance(value.get("function"), dict) else {}
    name = value.get("name") or function.get("name")
    arguments = value.get("arguments", value.get("parameters", function.get("arguments", {})))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            pass
    if name in toolbox.tools:
        return name, arguments
    # A call of a tool there is not ({"name": "read_csv", "arguments": {"file_path": "/etc/passwd"}}, Qwen2.5-Coder-1.5B
    # asked to read a file) is a call all the same: the model is told which tools there are, not shown it as its answer.
    called = isinstance(name, str) and name.strip() and ("arguments" in value or "parameters" in value or function)
    return (name, arguments) if called else None


def lone_query(text: str, dialect: str) -> str | None:
    """The query when ``text`` is one SELECT or WITH query and nothing else, bare or in a code fence.

    >>> lone_query("```sql\\nSELECT COUNT(*) FROM listening.tracks\\n```", "duckdb")
    'SELECT COUNT(*) FROM listening.tracks'
    >>> lone_query("Select the plan with the most users.", "duckdb") is None
    True
    """
    import sqlglot
    from sqlglot.tokens import TokenType

    fenced = text.strip().startswith("```") and text.strip().endswith("```")
    body = _strip_fence(text).rstrip(";").strip()
    try:
        tokens = sqlglot.tokenize(body, read=dialect)
        if not tokens or tokens[0].token_type not in (TokenType.SELECT, TokenType.WITH):
            return None
        if not fenced:  # bare text starting with "Select" may be prose: only a query that parses counts
            sqlglot.parse_one(body, read=dialect)
    except sqlglot.errors.SqlglotError:
        return None
    return body


# After a query that ran: small local models otherwise run the same query again and again (Qwen2.5-Coder-1.5B
# repeated a right COUNT(*) until agent.max_steps).
NEXT_NATIVE = "If this answers the question, reply now with the answer in words (no tool call); if not, fix the query."
NEXT_TEXT = "If this answers the question, reply now with Thought and Final Answer; if not, fix the query."
REPEATED = "You already ran this exact query and saw this result; running it again will not change it. "
MAX_SAME_QUERY = 3
REPEATED_CALL = ("You sent exactly the same call again; its result is above and will not change. Answer now in words "
                 "(say so if the cluster's tables cannot answer the question), or make a different call.")
REPEATED_FAILURE = "You sent exactly the same reply again, and it fails the same way. Do not repeat it: change it as this says. "


def _meant_call(toolbox: "Toolbox", tool: str, arguments: Any) -> tuple[str, Any]:
    """A call of a tool there is not whose one query argument says what it means is that query's ``run_sql``
    (Qwen2.5-Coder-0.5B: ``{"name": "listening.tracks", "arguments": {"query": "SELECT count(*) FROM listening.tracks"}}``);
    the guard still decides whether it runs. Any other call is returned as it is."""
    if tool in toolbox.tools or "run_sql" not in toolbox.tools:
        return tool, arguments
    if isinstance(arguments, str):
        arguments = _shown_input(arguments)
    values = arguments.values() if isinstance(arguments, dict) else [arguments]
    dialect = toolbox.project.config.dialect
    queries = [query for value in values if isinstance(value, str) and (query := lone_query(value, dialect))]
    return ("run_sql", {"sql": queries[0]}) if len(queries) == 1 else (tool, arguments)


def _use(run: _Run, toolbox: "Toolbox", tool: str, arguments: Any, thought: str, *, native: bool) -> str:
    """Call ``tool``, record the step, and return the observation's text as the model should read it."""
    tool, arguments = _meant_call(toolbox, tool, arguments)
    ran = len(toolbox.runs)
    observation = toolbox.call(tool, arguments)
    run.step(thought, tool, _shown_input(arguments) if isinstance(arguments, str) else arguments, observation.text,
             observation.ok)
    if len(toolbox.runs) == ran:
        return observation.text
    repeated = REPEATED if toolbox.same_query_runs() > 1 else ""
    return f"{repeated}{observation.text}\n\n{NEXT_NATIVE if native else NEXT_TEXT}"


def _native_turn(run: _Run, toolbox: "Toolbox", reply: "Reply") -> str | None:
    """Run the reply's tool calls (also those written as text); the answer text when the model called none."""
    if not reply.tool_calls:
        written = tool_calls_in_text(toolbox, reply.text) if reply.text.strip() else []
        if written:
            run.messages.append({"role": "assistant", "content": reply.text})
            observed = [f"Observation from {tool}: {_use(run, toolbox, tool, arguments, '', native=True)}"
                        for tool, arguments in written]
            run.messages.append({"role": "user", "content": "\n\n".join(observed)})
            return None
        # Empty call tags are an empty reply (Qwen2.5-Coder-1.5B answered "<tools></tools>" to an off-topic question).
        if _EMPTY_TAGS.sub("", reply.text).strip():
            return reply.text.strip()
        run.messages.append({"role": "assistant", "content": ""})
        run.messages.append({"role": "user", "content": "Your reply was empty. Call a tool, or give the final answer."})
        run.step("", "", None, "empty reply", ok=False)
        return None
    run.messages.append(reply.message())
    for call in reply.tool_calls:
        observed = _use(run, toolbox, call.name, call.arguments, reply.text, native=True)
        run.messages.append({"role": "tool", "tool_call_id": call.id, "content": observed})
    return None


def _text_turn(run: _Run, toolbox: "Toolbox", reply: "Reply") -> str | None:
    """Parse a plain-text reply; run its action (or a call written another way), or return its final answer."""
    parsed = parse_text_reply(reply.text)
    if parsed.final_answer is not None:
        return parsed.final_answer
    shown = reply.text.split("\nObservation:", 1)[0].strip()
    run.messages.append({"role": "assistant", "content": shown})
    if parsed.action is not None:
        written = [(parsed.action, _text_arguments(toolbox, parsed.action, parsed.action_input))]
    else:
        written = tool_calls_in_text(toolbox, shown)
    if not written:
        observation_text = ("Your reply had neither an Action nor a Final Answer. Reply with Thought, Action and "
                            "Action Input (one JSON object), or with Final Answer.")
        run.messages.append({"role": "user", "content": f"Observation: {observation_text}"})
        run.step(parsed.thought, "", None, observation_text, ok=False)
        return None
    observed = [_use(run, toolbox, tool, arguments, parsed.thought, native=False) for tool, arguments in written]
    run.messages.append({"role": "user", "content": "Observation: " + "\n\n".join(observed)})
    return None


def _shown_input(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except json.JSONDecodeError:
        return arguments


def _final(run: _Run, toolbox: "Toolbox", project: "Project", context: Any, answer: str) -> AgentResult:
    from vedder.agent.checks import declines

    if toolbox.last_run is None and declines(answer, question=toolbox.question, told=_told(run)):
        # Not a failure: the model read the cluster (or was refused another's table) and says its tables cannot
        # answer. Nothing was guessed, as with a question no cluster covers.
        cluster = toolbox.cluster
        return _finish(run, toolbox, project, context, status="not_covered",
                       answer=f"This cannot be answered from the {cluster.id} cluster: {answer}",
                       hint=f"if the {cluster.id} cluster's tables should answer it, rephrase the question or tell its "
                            f"owners ({cluster.owners.team or 'the cluster.yaml owners'}); `vedder clusters` lists the others")
    if toolbox.last_run is None:
        # Kept for the curious, labelled: surfaces show it under the error, and a weak model's figures are made up.
        return _finish(run, toolbox, project, context, status="error", answer=f"{UNCHECKED}{answer}",
                       error="the model answered without running a query, so the answer is not backed by data",
                       hint=NO_SQL_HINT)
    return _finish(run, toolbox, project, context, status="answered", answer=answer)


def _told(run: _Run) -> list[str]:
    """What vedder sent the model during the run: the observations and its own messages (not the question)."""
    sent = [str(step["observation"]) for step in run.steps]
    return sent + [str(m.get("content") or "") for m in run.messages[run.asked:] if m.get("role") in ("user", "tool")]


def _finish(run: _Run, toolbox: "Toolbox", project: "Project", context: Any, *, status: str, answer: str = "",
            error: str | None = None, hint: str | None = None) -> AgentResult:
    from vedder.agent.checks import caveats, check_answer

    last = toolbox.last_run
    answer, checks = check_answer(answer, toolbox, answered=status == "answered")
    sources = context_sources(project, toolbox.context if toolbox.context is not None else context)
    sources += [s for s in toolbox.sources if s not in sources]
    if last is not None:
        sources += [{"kind": "dataset", "id": t} for t in last.guarded.tables if {"kind": "dataset", "id": t} not in sources]
    return AgentResult(
        status=status,
        answer=answer,
        sql=last.guarded.sql if last else None,
        result=last.result if last else None,
        steps=run.steps,
        tokens=run.tokens,
        cost=run.cost,
        sources=sources,
        error=error,
        hint=hint,
        model=run.model,
        cluster=toolbox.cluster.id,
        checks=checks,
        caveats=(caveats(run.model, checks) + [DECLINED] * (status == "not_covered")) if answer else [],
    )
