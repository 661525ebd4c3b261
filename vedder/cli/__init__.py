"""The ``vedder`` command line: parse, call one library function, render.

Each area registers its commands from its own module; every module imports only light things at
the top so that ``vedder --help`` stays instant. User errors (VedderError) become one line plus a
hint and the error's exit code; tracebacks appear only with ``--debug``.
"""

from __future__ import annotations

import errno
import importlib
import sys
from pathlib import Path

import typer
from typer.core import TyperGroup

from vedder.cli.common import COMMAND_CONTEXT, ERROR_DOCUMENTS, JSON_OUTPUT, print_json
from vedder.errors import FileAccessError, InternalError, UsageError, VedderError

# Click's exceptions as typer raises them (recent typers vendor their own click).
click_errors = importlib.import_module(typer.BadParameter.__module__)


class VedderGroup(TyperGroup):
    """Turns VedderError, and click's own usage errors, into ``error: …`` / ``hint: …`` on stderr and a
    non-zero exit code."""

    def make_context(self, info_name, args, parent=None, **extra) -> typer.Context:
        # Known before any parsing, so that even a flag error prints JSON for `… --json | jq`.
        json_output = _wants_json(args[: args.index("--")] if "--" in args else args)
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except click_errors.NoArgsIsHelpError:
            raise
        except click_errors.UsageError as exc:  # a flag of vedder itself: `vedder --bogus`
            _fail(_usage_error(exc), json_output)
        ctx.meta[JSON_OUTPUT] = json_output
        return ctx

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except click_errors.NoArgsIsHelpError:
            raise
        except click_errors.UsageError as exc:
            _fail(_usage_error(exc), ctx.meta.get(JSON_OUTPUT), ctx.meta.get(COMMAND_CONTEXT))
        except KeyboardInterrupt:
            _interrupted()
        except typer.Abort as exc:
            if not isinstance(exc.__context__, KeyboardInterrupt):  # a prompt's end of input stays click's
                raise
            _interrupted()
        except typer.Exit:
            raise
        except RuntimeError as exc:
            if str(exc) == "Query interrupted":
                _interrupted()  # Ctrl-C inside a DuckDB query
            if _debug(ctx):
                raise
            _fail(InternalError.of(exc), ctx.meta.get(JSON_OUTPUT), ctx.meta.get(COMMAND_CONTEXT))
        except OSError as exc:
            if _debug(ctx):
                raise
            _fail(_refused_write(exc) or InternalError.of(exc), ctx.meta.get(JSON_OUTPUT), ctx.meta.get(COMMAND_CONTEXT))
        except VedderError as exc:
            if _debug(ctx):
                raise
            _fail(exc, ctx.meta.get(JSON_OUTPUT), ctx.meta.get(COMMAND_CONTEXT))
        except click_errors.ClickException:
            raise
        except Exception as exc:  # a bug: one line and exit 70, the traceback only with --debug
            if _debug(ctx):
                raise
            _fail(InternalError.of(exc), ctx.meta.get(JSON_OUTPUT), ctx.meta.get(COMMAND_CONTEXT))

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(self.commands)


def _debug(ctx: typer.Context) -> bool:
    return bool(ctx.obj and ctx.obj.get("debug"))


def _wants_json(args: list[str]) -> bool:
    """``--json``, or health's ``--format json``."""
    pairs = zip(args, [*args[1:], ""])
    return "--json" in args or "--format=json" in args or any(a in ("--format", "-f") and b == "json" for a, b in pairs)


def _interrupted():
    typer.echo("interrupted", err=True)
    raise typer.Exit(130) from None


def _fail(exc: VedderError, json_output: bool = False, command: typer.Context | None = None):
    """``error:`` / ``hint:`` on stderr; with --json also one object on stdout, in the command's own shape
    when it has one (``ERROR_DOCUMENTS``)."""
    if json_output:
        document = {"status": "error", "error": exc.message, "hint": exc.hint or None, "exit_code": exc.exit_code}
        fill = ERROR_DOCUMENTS.get(command.command.name) if command is not None else None
        print_json(fill(command.params, document) if fill else document)
    typer.echo(f"error: {exc.message}", err=True)
    if exc.hint:
        typer.echo(f"hint: {exc.hint}", err=True)
    raise typer.Exit(exc.exit_code) from None


def _usage_error(exc: "click_errors.UsageError") -> UsageError:
    """Click's unknown option, bad value or missing argument, with the help of the command it concerns."""
    words = exc.ctx.command_path.split()[1:] if exc.ctx is not None else []
    return UsageError(exc.format_message(), " ".join(["vedder", *words, "--help"]))


def _refused_write(exc: OSError) -> FileAccessError | None:
    """A write the system refused (read-only folder, permissions, full disk) as a user error; None for anything else."""
    if exc.filename is None or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
        return None
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return FileAccessError(f"cannot write {exc.filename}: {exc.strerror}", "free some disk space, then run the command again")
    return FileAccessError(f"cannot write in {Path(exc.filename).parent}: {exc.strerror}")


app = typer.Typer(
    cls=VedderGroup,
    name="vedder",
    help="vedder: answers data questions from clusters of expert-curated warehouse knowledge.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """vedder: answers data questions from clusters of expert-curated warehouse knowledge."""
    ctx.obj = {"debug": debug}


def _register() -> None:
    from vedder.cli import (
        ask_cmds,
        context_cmds,
        curation_cmds,
        demo_cmds,
        health_cmds,
        init_cmds,
        mcp_cmds,
        profile_cmds,
        slack_cmds,
        validate_cmds,
        web_cmds,
    )

    for module in (init_cmds, ask_cmds, context_cmds, demo_cmds, profile_cmds, validate_cmds, curation_cmds, health_cmds, mcp_cmds,
                   web_cmds, slack_cmds):
        module.register(app)


_register()


def main(prog_name: str | None = None) -> None:
    for stream in (sys.stdout, sys.stderr):  # PYTHONIOENCODING=ascii, a C locale: degrade, never crash
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    app(prog_name=prog_name)
