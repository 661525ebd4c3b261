"""The MCP surface: vedder's agent and curated clusters for IDEs and AI assistants.

A thin layer over the library calls the CLI makes (``vedder.ask.ask``, ``vedder.context``,
``vedder.sql.run.run_sql``, the conversation log). A ``VedderError`` becomes an MCP tool error
(``isError``) carrying its message and hint, and the server keeps serving. The project is loaded once
and reloaded when ``vedder.yaml`` or a file under ``clusters/`` changes (``vedder.serving``, shared with ``vedder web``).
A cluster with a file that cannot be read is left out (named on stderr and in the tools' ``warnings``); the
others keep answering.

Only ``vedder mcp`` imports this module: it pulls in the ``mcp`` SDK.

>>> resource_uri("listening", "docs", "active-users")
'vedder://clusters/listening/docs/active-users'
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Literal

import anyio.from_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import CallToolResult, Resource, TextContent, ToolAnnotations
from pydantic import Field

from vedder.errors import VedderError
from vedder.serving import ProjectWatcher, WarehousePool, ask_served, check_port, plain, warn_if_public

if TYPE_CHECKING:
    from vedder.project import Cluster, Project

MAX_ROWS = 200
"""Rows a tool hands back at most: an assistant's context is small; the full result is one query away."""

INSTRUCTIONS = """\
vedder answers data questions from clusters: folders of warehouse knowledge curated by the teams that own the \
data (profiled tables, vetted question-SQL pairs, business docs). Prefer `ask` for questions in plain language: \
its answers come with the SQL that produced them and the sources (vetted pairs, docs, tables) they rest on; show \
the user the SQL and sources, and its `caveats` (a model's answer, not vetted by an expert, says what vedder \
checked and what failed; show a failed check, every caveat after the first, before the answer). Use `list_clusters` and `describe_cluster` to see what is covered and who owns it, \
`context` to see the curated context for a question, `query` to run your own read-only SQL on one cluster's \
tables, and `feedback` to rate an answer by its conversation id. When `ask` says a question is not covered, tell \
the user which team owns the nearest cluster instead of guessing. When it says `ambiguous` (several clusters fit \
the question about equally well, named in `closest`), ask the user which one they mean and call `ask` again with \
that `cluster` and the same `conversation_id`."""


def resource_uri(cluster_id: str, kind: str | None = None, slug: str | None = None) -> str:
    """The URI of a cluster's overview (no ``kind``) or of one of its docs, pairs or datasets."""
    uri = f"vedder://clusters/{cluster_id}"
    return f"{uri}/{kind}/{slug}" if kind else uri


def tool_error(message: str, hint: str | None = None, data: dict[str, Any] | None = None) -> CallToolResult:
    """An MCP tool error (``isError``) whose text is ``error: …`` plus ``hint: …``, like the CLI's."""
    text = f"error: {message}" + (f"\nhint: {hint}" if hint else "")
    details = {"message": message, "hint": hint, **(data or {})}
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=plain(details), is_error=True)


def tool_result(data: dict[str, Any]) -> CallToolResult:
    """``data`` as structured content, and as compact JSON text for clients that show the model only text."""
    data = plain(data)
    text = json.dumps(data, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _tool(function: Callable[..., Any]) -> Callable[..., Any]:
    """A tool body whose dict becomes a tool result, and whose VedderError becomes a tool error with its hint."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = function(*args, **kwargs)
        except VedderError as exc:
            return tool_error(exc.message, exc.hint, exc.to_dict())
        return tool_result(result) if isinstance(result, dict) else result

    return wrapper


def _capped(columns: list[str], rows: list[Any], truncated: bool) -> dict[str, Any]:
    return {"columns": list(columns), "rows": [list(r) for r in rows[:MAX_ROWS]], "row_count": len(rows),
            "truncated": truncated or len(rows) > MAX_ROWS}


def progress_reporter(context: Context, total: int) -> Callable[[dict[str, Any]], None]:
    """An ``on_step`` for the agent, run on a worker thread, that sends each step as an MCP progress notification."""

    def report(step: dict[str, Any]) -> None:
        number = step.get("step") or 0
        message = f"step {number}: {step.get('tool') or 'thinking'}"
        try:
            anyio.from_thread.run(context.report_progress, number, total, message)
        except Exception:  # noqa: BLE001 - progress is best effort: a client gone quiet must not fail the answer
            pass

    return report


def ask_result(project: "Project", warehouses: WarehousePool, question: str, cluster_id: str | None,
               conversation_id: str | None, model: str | None,
               on_step: Callable[[dict[str, Any]], None] | None = None, shared: bool = False) -> dict[str, Any] | CallToolResult:
    """``vedder.ask.ask`` on the MCP surface; an answer with status ``error`` is a tool error. ``shared``: the
    server answers many people as one OS user (HTTP), so route memory trusts no answer as the asker's own."""
    answer = ask_served(project, warehouses, question, surface="mcp", cluster_id=cluster_id,
                        conversation_id=conversation_id, model=model, on_step=on_step, shared=shared)
    result = {
        "status": answer.status,
        "caveats": answer.caveats,  # before the answer: a client reading in order meets the failed checks first
        "answer": answer.answer,
        "cluster": answer.cluster,
        "routing_note": answer.routing_note,
        "sql": answer.sql,
        **_capped(answer.columns, answer.rows, answer.truncated),
        "sources": answer.sources,
        "vetted": answer.vetted,
        "conversation_id": answer.conversation_id,
        "owners": answer.owners,
        "closest": answer.closest,
        "ambiguous": answer.ambiguous,
        "hint": answer.hint,
        "model": answer.model,
        "tokens": answer.tokens,
        "cost": answer.cost,
        "latency_s": answer.latency_s,
        "warnings": answer.warnings,
    }
    if answer.status == "error":
        return tool_error(answer.error or answer.answer, answer.hint, result)
    return result


def context_result(project: "Project", question: str, cluster_id: str | None, shared: bool = False) -> dict[str, Any]:
    """What the agent would see for ``question``: routing, then the context built from the chosen cluster."""
    from vedder.context import build_context, route_with_memory
    from vedder.context.memory import ANONYMOUS

    if cluster_id:
        cluster, routing = project.cluster(cluster_id), None
    else:
        routing = route_with_memory(project, question, user=ANONYMOUS if shared else None)
        if not routing.covered:
            closest = [{"id": c, "score": round(score, 3), "team": project.clusters[c].owners.team,
                        "contact": project.clusters[c].owners.contact} for c, score in routing.scores[:3]]
            return {**routing.to_dict(), "question": question, "closest": closest,
                    "message": "The question is for a cluster not loaded (a file is broken): `not_loaded` names it, its team and the file."
                               if routing.not_loaded else "No cluster covers this question; `closest` names the nearest clusters and their teams.",
                    "warnings": project.warnings}
        cluster = routing.cluster
    context = build_context(project, cluster, question)
    return {**context.to_dict(), **(routing.to_dict() if routing else {"covered": True}), "owners": cluster.owners.to_dict(),
            "warnings": project.warnings}


def query_result(project: "Project", warehouses: WarehousePool, sql: str, cluster_id: str | None,
                 limit: int) -> dict[str, Any]:
    """Guarded SQL on one cluster's tables (the given one, or the one covering every table it reads)."""
    from vedder.sql.run import cluster_for_sql, run_sql

    cluster = project.cluster(cluster_id) if cluster_id else cluster_for_sql(sql, project)
    with warehouses.borrow(project.config) as warehouse:
        guarded, result = run_sql(sql, project=project, warehouse=warehouse, cluster=cluster, limit=min(limit, MAX_ROWS))
    return {"cluster": cluster.id, "sql": guarded.sql, "tables": guarded.tables,
            **_capped(result.columns, result.rows, result.truncated), "elapsed_s": round(result.elapsed_s, 4)}


def cluster_summary(cluster: "Cluster") -> dict[str, Any]:
    return listed(cluster.listing())


def listed(listing: dict[str, Any]) -> dict[str, Any]:
    """A cluster's entry in ``list_clusters``: its ``Cluster.listing()`` and the URI of its overview resource."""
    return {**listing, "uri": resource_uri(listing["id"])}


def describe(cluster: "Cluster") -> dict[str, Any]:
    """Owners, tables with their columns, vetted pairs and docs of ``cluster``, with resource URIs."""
    tables = []
    for table in cluster.tables:
        dataset = cluster.dataset(table)
        if dataset is None:
            tables.append({"table": table, "profiled": False, "columns": []})
            continue
        columns = [{"name": c.name, "type": c.type, "description": c.description,
                    "common_values": [v.get("value") for v in c.common_values[:5] if isinstance(v, dict)]}
                   for c in dataset.columns]
        tables.append({"table": dataset.table, "profiled": True, "description": dataset.description,
                       "row_count": dataset.row_count, "partitioning": dataset.partitioning, "columns": columns,
                       "uri": resource_uri(cluster.id, "datasets", dataset.table)})
    pairs = [{"id": p.id, "question": p.question, "paraphrases": p.paraphrases, "sql": p.sql, "verified_by": p.verified_by,
              "verified_at": p.verified_at, "stale": p.stale, "uri": resource_uri(cluster.id, "pairs", p.id)}
             for p in cluster.pairs]
    docs = [{"id": d.id, "title": d.title, "tags": d.tags, "applies_to": d.applies_to, "deprecated": d.deprecated,
             "uri": resource_uri(cluster.id, "docs", d.id)} for d in cluster.docs]
    return {**cluster_summary(cluster), "default_schema": cluster.default_schema, "tables": tables,
            "pairs": pairs, "docs": docs, "deprecated_tables": sorted(cluster.deprecated_tables)}


def overview(cluster: "Cluster") -> str:
    """A cluster's overview as Markdown: what it covers, who owns it, and links to its docs and pairs."""
    owners = cluster.owners
    lines = [f"# {cluster.title or cluster.id}", "", cluster.description, "",
             f"Owned by **{owners.team}**" + (f" ({', '.join(owners.members)})" if owners.members else "")
             + (f", contact {owners.contact}" if owners.contact else "") + ".", "", "## Tables", ""]
    for table in cluster.tables:
        dataset = cluster.dataset(table)
        detail = f" — {dataset.description}" if dataset and dataset.description else ""
        rows = f" ({dataset.row_count:,} rows)" if dataset and isinstance(dataset.row_count, int) else ""
        lines.append(f"- `{table}`{rows}{detail}")
    if cluster.deprecated_tables:
        lines += ["", "Deprecated (do not use): " + ", ".join(f"`{t}`" for t in sorted(cluster.deprecated_tables))]
    lines += ["", "## Docs", ""]
    lines += [f"- [{d.title}]({resource_uri(cluster.id, 'docs', d.id)})" for d in cluster.docs] or ["- none"]
    lines += ["", "## Vetted question-SQL pairs", ""]
    lines += [f"- [{p.question}]({resource_uri(cluster.id, 'pairs', p.id)})" + (" (stale)" if p.stale else "")
              for p in cluster.pairs] or ["- none"]
    return "\n".join(lines) + "\n"


def resources(project: "Project") -> list[Resource]:
    """Every cluster's overview, docs, pairs and dataset files as MCP resources."""
    listed = []
    for cluster in sorted(project.clusters.values(), key=lambda c: c.id):
        listed.append(Resource(uri=resource_uri(cluster.id), name=f"{cluster.id} overview", mime_type="text/markdown",
                               description=f"Cluster {cluster.id}: {cluster.title}. Owners, tables, docs and pairs."))
        listed += [Resource(uri=resource_uri(cluster.id, "docs", d.id), name=f"{cluster.id} doc: {d.title}",
                            mime_type="text/markdown", description=f"Business context from {cluster.owners.team}.")
                   for d in cluster.docs]
        listed += [Resource(uri=resource_uri(cluster.id, "pairs", p.id), name=f"{cluster.id} pair: {p.question}",
                            mime_type="application/yaml", description=f"Vetted question and SQL, verified by {p.verified_by}.")
                   for p in cluster.pairs]
        listed += [Resource(uri=resource_uri(cluster.id, "datasets", d.table), name=f"{cluster.id} table: {d.table}",
                            mime_type="application/yaml", description="Profiled table: columns, types, common values.")
                   for d in cluster.dataset_files.values()]
    return listed


def _file_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ResourceNotFoundError(f"cannot read {path.name}: {exc.strerror}") from None


def read_cluster_file(project: "Project", cluster_id: str, kind: str, slug: str) -> str:
    """The text of one doc, pair or dataset file of a cluster, found through the project model."""
    cluster = project.clusters.get(cluster_id)
    if cluster_id in project.broken:
        raise ResourceNotFoundError(project.broken[cluster_id].as_error().message)
    if cluster is None:
        raise ResourceNotFoundError(f"unknown cluster '{cluster_id}' (known: {', '.join(sorted(project.clusters))})")
    found = {"docs": lambda: next((d for d in cluster.docs if d.id == slug), None),
             "pairs": lambda: cluster.pair(slug),
             "datasets": lambda: cluster.dataset(slug)}[kind]()
    if found is None:
        raise ResourceNotFoundError(f"cluster '{cluster_id}' has no {kind[:-1]} '{slug}'; see {resource_uri(cluster_id)}")
    return _file_text(found.path)


class VedderMCP(MCPServer):
    """MCPServer whose resource list follows the project on disk."""

    def __init__(self, watcher: ProjectWatcher, **settings: Any) -> None:
        super().__init__(**settings)
        self.watcher = watcher

    async def list_resources(self) -> list[Resource]:
        try:
            return resources(self.watcher.current())
        except VedderError as exc:
            raise ResourceNotFoundError(f"{exc.message} (hint: {exc.hint})") from None


ClusterArg = Annotated[str | None, Field(
    description="Cluster id, e.g. 'listening' (see list_clusters). Leave empty to route the question automatically.")]


def _file_reader(kind: str, read: Callable[[Callable[["Project"], str]], str]) -> Callable[[str, str], str]:
    def read_file(cluster: str, slug: str) -> str:
        return read(lambda project: read_cluster_file(project, cluster, kind, slug))

    return read_file


def create_server(watcher: ProjectWatcher, model: str | None = None, shared: bool = False) -> VedderMCP:
    """The vedder MCP server over ``watcher``'s project; ``model`` overrides the configured model for ``ask``;
    ``shared`` (HTTP): many people behind one OS user (see ``ask_result``)."""
    server = VedderMCP(watcher, name="vedder", title="vedder data agent", instructions=INSTRUCTIONS,
                       log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    warehouses = WarehousePool()

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, open_world_hint=False))
    @_tool
    def ask(
        question: Annotated[str, Field(description="The question in plain language.",
                                       examples=["How many streams were there in Sweden last week?"])],
        cluster: ClusterArg = None,
        conversation_id: Annotated[str | None, Field(
            description="Continue this conversation (the conversation_id of an earlier answer) for a follow-up "
                        "such as 'and for Germany?'. Leave empty for a new question.")] = None,
        ctx: Context = None,
    ) -> dict[str, Any]:
        """Answer a data question from the curated clusters, with the SQL that produced the answer and its sources.

        Use this first for any question about the company's data. Returns status ('answered', or 'not_covered'
        when no cluster or vetted pair covers it, with the closest clusters/pairs and owning teams), answer (text),
        cluster, sql, columns, rows (at most 200), sources (vetted pairs, docs and tables used), owners and
        conversation_id (pass it back as conversation_id for a follow-up, or to `feedback`); vetted (false when a
        model wrote the answer) and caveats (what vedder checked of a model's answer and what failed). Always show
        the SQL, the sources and the caveats with the answer; a failed check (every caveat after the first) before it. Example: {"question": "How many premium users are in Germany?"}."""
        project = watcher.current()
        on_step = progress_reporter(ctx, project.config.max_steps) if ctx is not None else None
        return ask_result(project, warehouses, question, cluster, conversation_id, model, on_step, shared=shared)

    @server.tool(annotations=read_only)
    @_tool
    def context(
        question: Annotated[str, Field(description="The question to build context for.",
                                       examples=["Which artists were streamed most in Brazil?"])],
        cluster: ClusterArg = None,
    ) -> dict[str, Any]:
        """Show the curated context the agent would see for a question: routing, tables, vetted pairs and docs.

        Use it to write or check SQL yourself with expert knowledge (definitions, gotchas, which tables and
        columns to use) before calling `query`. Returns covered (false when no cluster covers the question, with
        the closest clusters and teams), cluster, clusters (routing scores, best first), tables, pairs, docs,
        tokens and text (exactly the Markdown the model sees). Example: {"question": "weekly active users by country"}."""
        return context_result(watcher.current(), question, cluster, shared=shared)

    @server.tool(annotations=read_only)
    @_tool
    def query(
        sql: Annotated[str, Field(description="One read-only SELECT (DuckDB dialect) on a cluster's tables.",
                                  examples=["SELECT country, count(*) AS users FROM listening.users GROUP BY 1"])],
        cluster: Annotated[str | None, Field(
            description="Cluster whose tables the query may read, e.g. 'listening'. Leave empty to use the cluster "
                        "that covers every table the query reads.")] = None,
        limit: Annotated[int, Field(description="Return at most this many rows (1 to 200).", ge=1, le=MAX_ROWS)] = 100,
    ) -> dict[str, Any]:
        """Run one read-only SQL query through vedder's guard on a single cluster's tables.

        Only SELECT on tables the cluster owns is allowed; anything else (writes, DDL, several statements, other
        tables, file access) is refused with a tool error naming the rule and what to do. Check the context or
        describe_cluster first: docs name filters every query needs. Returns cluster, sql (as run), tables,
        columns, rows, row_count, truncated and elapsed_s. Not logged as a conversation; prefer `ask` for
        questions a vetted pair may answer."""
        return query_result(watcher.current(), warehouses, sql, cluster, limit)

    @server.tool(annotations=read_only)
    @_tool
    def list_clusters() -> dict[str, Any]:
        """List the clusters: the data domains vedder covers, each owned by a named team.

        Returns clusters with id, title, description, owners (team, members, contact), keywords, tables, the
        number of vetted pairs and docs, and the URI of its overview resource. Use it to see what questions
        vedder can answer and whom to ask about a domain. `warnings` names clusters left out for a broken file."""
        project = watcher.current()  # listed from the records kept as clusters load: 1,096 clusters load in ~6 s
        return {"clusters": [listed(listing) for listing in project.listings()], "warnings": project.warnings}

    @server.tool(annotations=read_only)
    @_tool
    def describe_cluster(
        cluster: Annotated[str, Field(description="Cluster id from list_clusters.", examples=["listening"])],
    ) -> dict[str, Any]:
        """Describe one cluster in full: owners, tables with columns (type, description, common values), vetted
        question-SQL pairs, docs and deprecated tables.

        Use it before writing SQL yourself or to find the right vetted example. Each doc, pair and table carries
        the URI of the resource with its full text (read it with resources/read)."""
        return describe(watcher.current().cluster(cluster))

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, idempotent_hint=False, open_world_hint=False))
    @_tool
    def feedback(
        conversation_id: Annotated[str, Field(description="conversation_id from an `ask` answer.", examples=["3f9a1c2b7d"])],
        rating: Annotated[Literal["up", "down"], Field(description="'up' if the answer was right and useful, else 'down'.")],
        comment: Annotated[str | None, Field(description="What was right or wrong, e.g. 'should exclude test users'.")] = None,
    ) -> dict[str, Any]:
        """Rate an answer from `ask` up or down, with an optional comment, when the user says whether it was right.

        The cluster's owners see ratings in `vedder log` and `vedder health` and fix what was wrong.
        Returns the recorded rating."""
        from vedder.log.store import open_log

        store = open_log(watcher.current().config)
        try:
            return store.feedback(conversation_id, rating, comment)
        finally:
            store.close()

    def _read(read: Callable[["Project"], str]) -> str:
        try:
            return read(watcher.current())
        except VedderError as exc:
            raise ResourceNotFoundError(f"{exc.message} (hint: {exc.hint})") from None

    @server.resource("vedder://clusters/{cluster}", mime_type="text/markdown",
                     description="A cluster's overview: what it covers, owners, tables, and links to docs and pairs.")
    def cluster_overview(cluster: str) -> str:
        return _read(lambda project: overview(project.cluster(cluster)))

    for kind, mime, what in (("docs", "text/markdown", "A cluster's doc: business definitions and gotchas (Markdown)."),
                             ("pairs", "application/yaml", "A vetted question-SQL pair (YAML)."),
                             ("datasets", "application/yaml", "A profiled table: columns, types, common values (YAML).")):
        server.resource(f"vedder://clusters/{{cluster}}/{kind}/{{slug}}", name=f"cluster {kind}", mime_type=mime,
                        description=what)(_file_reader(kind, _read))
    return server


def serve(project: Path | None = None, *, http: bool = False, host: str = "127.0.0.1", port: int = 8765,
          model: str | None = None) -> None:
    """Serve the project over stdio (the default) or streamable HTTP at ``http://host:port/mcp``."""
    server = create_server(ProjectWatcher(project), model=model, shared=http)
    if not http:
        server.run("stdio")
        return
    check_port(host, port)
    warn_if_public(host)
    print(f"vedder MCP server on http://{host}:{port}/mcp (Ctrl-C stops it)", file=sys.stderr, flush=True)
    server.run("streamable-http", host=host, port=port)
