"""Running git for curation: one function per question we ask git, each failing with a one-line GitError."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from vedder.errors import GitError


def git(*args: str, cwd: Path, check: bool = True, hint: str | None = None, strip: bool = True,
        timeout: float | None = None) -> str:
    """Run ``git args`` in ``cwd`` and return its stdout (stripped unless told); raise GitError when it fails.

    With ``timeout`` (a best-effort network call) git may not prompt for credentials, and running out of time
    is a failure like any other ("" when ``check`` is off)."""
    env = None
    if timeout is not None:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    try:
        completed = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout, env=env)
    except FileNotFoundError:
        raise GitError("git is not installed", "install git, or use --no-pr") from None
    except subprocess.TimeoutExpired:
        if check:
            raise GitError(f"git {args[0]}: no answer within {timeout:g} s", hint) from None
        return ""
    if check and completed.returncode != 0:
        lines = [line for line in (completed.stderr or completed.stdout).splitlines() if line.strip()]
        detail = next((line for line in lines if line.startswith(("fatal:", "error:", "!"))), lines[0] if lines else "failed")
        raise GitError(f"git {args[0]}: {detail.strip()}", hint)
    return completed.stdout.strip() if strip else completed.stdout


def repo_root(path: Path) -> Path:
    """The top folder of the git repository that holds ``path``."""
    return Path(git("rev-parse", "--show-toplevel", cwd=path, hint="run inside a git repository (git init), or use --no-pr"))


def user_name(path: Path) -> str:
    """The git author name (``user.name``, or GIT_AUTHOR_NAME); empty when git knows none."""
    ident = git("var", "GIT_AUTHOR_IDENT", cwd=path, check=False)
    return ident.split(" <", 1)[0].strip() if " <" in ident else git("config", "user.name", cwd=path, check=False)


def remote_url(root: Path, remote: str = "origin") -> str:
    url = git("remote", "get-url", remote, cwd=root, check=False)
    if not url:
        raise GitError(f"the repository has no `{remote}` remote", f"add one: git remote add {remote} URL, or use --no-pr")
    return url


def branch_exists(root: Path, branch: str, remote: str = "origin") -> bool:
    """Whether ``branch`` exists locally or on ``remote``."""
    if git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=root, check=False):
        return True
    return bool(git("ls-remote", "--heads", remote, f"refs/heads/{branch}", cwd=root, check=False))


def unique_branch(root: Path, branch: str, remote: str = "origin") -> str:
    """``branch``, or ``branch-2``, ``branch-3`` … when it is taken."""
    candidate, number = branch, 1
    while branch_exists(root, candidate, remote):
        number += 1
        candidate = f"{branch}-{number}"
    return candidate


def base_branch(root: Path, remote: str = "origin") -> str:
    """The branch a pull request should target: the current one if the remote has it, else the remote's default."""
    current = git("rev-parse", "--abbrev-ref", "HEAD", cwd=root, check=False)
    if current and current != "HEAD" and git("rev-parse", "--verify", "--quiet", f"refs/remotes/{remote}/{current}", cwd=root, check=False):
        return current
    default = git("symbolic-ref", "--quiet", "--short", f"refs/remotes/{remote}/HEAD", cwd=root, check=False)
    if default:
        return default.split("/", 1)[1]
    return current if current and current != "HEAD" else "main"

