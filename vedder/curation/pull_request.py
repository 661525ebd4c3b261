"""Turning a set of file changes into a pull request, without touching the user's working tree.

The git work happens in a temporary worktree based on the current HEAD: a new branch, one commit, a push to
``origin``. The pull request is then opened through GitHub's REST API (``$GITHUB_API_URL``, default
https://api.github.com, with ``$GITHUB_TOKEN``; owner/repo from ``$GITHUB_REPOSITORY`` or the remote URL),
else through ``gh pr create`` when it is installed, else the exact command is returned for the user to run.
``vedder propose``, ``vedder review`` and ``vedder health --fix`` all end here.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vedder.curation.git import base_branch, git, remote_url, repo_root, unique_branch
from vedder.errors import PullRequestError

DEFAULT_API_URL = "https://api.github.com"


@dataclass
class PullRequestResult:
    """What happened: the pushed branch and commit, and the PR url (or the command that opens it)."""

    branch: str
    base: str
    commit: str
    method: str
    url: str | None = None
    number: int | None = None
    command: str | None = None
    reviewers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def github_repository(url: str) -> str | None:
    """``owner/repo`` from a GitHub remote URL (https, ssh or scp-like form), else None.

    >>> github_repository("git@github.com:acme/warehouse.git"), github_repository("https://github.com/acme/wh")
    ('acme/warehouse', 'acme/wh')
    """
    if "://" in url:
        path = urllib.parse.urlparse(url).path
    elif ":" in url and not url.startswith(("/", ".")):
        path = url.split(":", 1)[1]
    else:
        return None
    parts = [p for p in path.strip("/").removesuffix(".git").split("/") if p]
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


def write_changes(folder: Path, changes: dict[str, str | None]) -> None:
    """Apply ``changes`` (relative path -> new text, None to delete) under ``folder``, each write atomic."""
    from vedder.files import atomic_write

    for relative, text in changes.items():
        target = folder / relative
        if text is None:
            target.unlink(missing_ok=True)
        else:
            atomic_write(target, text)


def open_pull_request(
    root: Path,
    *,
    branch: str,
    title: str,
    body: str,
    changes: dict[str, str | None],
    reviewers: list[str] | tuple[str, ...] = (),
    remote: str = "origin",
) -> PullRequestResult:
    """Commit ``changes`` (paths relative to ``root``) on a new branch, push it, and open a pull request."""
    if not changes:
        raise PullRequestError("there are no changes to put in a pull request", "nothing to do")
    root = Path(root).resolve()
    repo = repo_root(root).resolve()
    prefix = root.relative_to(repo)
    url = remote_url(repo, remote)
    git("rev-parse", "--verify", "HEAD", cwd=repo, hint="commit something first: the pull request branches off HEAD")
    branch = unique_branch(repo, branch, remote)
    base = base_branch(repo, remote)
    commit = _commit_in_worktree(repo, branch, title, body, {str(prefix / path): text for path, text in changes.items()}, remote)
    result = PullRequestResult(branch=branch, base=base, commit=commit, method="command")
    token = os.environ.get("GITHUB_TOKEN")
    repository = os.environ.get("GITHUB_REPOSITORY") or github_repository(url)
    command = ["gh", "pr", "create", "--base", base, "--head", branch, "--title", title, "--body", body]
    if reviewers:
        command += ["--reviewer", ",".join(reviewers)]
    if token and repository:
        _open_with_api(result, repository, token, title, body, list(reviewers))
    elif shutil.which("gh"):
        _open_with_gh(result, repo, command)
    else:
        result.command = shlex.join(command)
        if token:
            result.warnings.append(f"cannot tell the GitHub repository from the remote URL {url}; set GITHUB_REPOSITORY=owner/repo")
    return result


FETCH_TIMEOUT_S = 20.0


def open_branch_files(root: Path, prefix: str, folder: str, remote: str = "origin") -> dict[str, dict[str, str]]:
    """What the branches ``remote/<prefix>…`` (pull requests not merged yet) add or change under ``folder``
    (relative to ``root``) that HEAD does not hold: branch -> {path relative to ``root``: text}. The branches
    are fetched first (deleted ones pruned), best effort; nothing when ``root`` is not in a git repository
    with ``remote``."""
    root = Path(root).resolve()
    top = git("rev-parse", "--show-toplevel", cwd=root, check=False)
    if not top or not git("remote", "get-url", remote, cwd=root, check=False):
        return {}
    inside = root.relative_to(Path(top).resolve())
    # Offline or behind a password prompt: go on with what was fetched before, never hang.
    git("fetch", "--quiet", "--prune", remote, f"+refs/heads/{prefix}*:refs/remotes/{remote}/{prefix}*", cwd=root, check=False,
        timeout=FETCH_TIMEOUT_S)
    refs = git("for-each-ref", "--format=%(refname:short)", f"refs/remotes/{remote}/{prefix}*", cwd=root, check=False)
    found: dict[str, dict[str, str]] = {}
    for ref in refs.splitlines():
        branch = ref.removeprefix(f"{remote}/")
        # Added or changed since the branch left HEAD's history, and still different from HEAD (a squash merge).
        since_fork = git("diff", "--name-only", "--diff-filter=AM", f"HEAD...{ref}", "--", folder, cwd=root, check=False)
        differs = set(git("diff", "--name-only", "HEAD", ref, "--", folder, cwd=root, check=False).splitlines())
        files = {path: git("show", f"{ref}:{path}", cwd=Path(top), check=False, strip=False)
                 for path in since_fork.splitlines() if path in differs}
        if files:
            found[branch] = {str(Path(path).relative_to(inside)): text for path, text in files.items()}
    return found


def _commit_in_worktree(repo: Path, branch: str, title: str, body: str, changes: dict[str, str | None], remote: str) -> str:
    """Create ``branch`` from HEAD in a temporary worktree, commit ``changes`` there and push it."""
    scratch = Path(tempfile.mkdtemp(prefix="vedder-pr-"))
    worktree = scratch / "worktree"
    git("worktree", "add", "--quiet", "-b", branch, str(worktree), "HEAD", cwd=repo)
    try:
        write_changes(worktree, changes)
        git("add", "--all", "--", *changes, cwd=worktree)
        if not git("diff", "--cached", "--name-only", cwd=worktree):
            raise PullRequestError("the changes are already committed on the current branch", "nothing to open a pull request for")
        git("commit", "--quiet", "--no-verify", "-m", title, "-m", body, cwd=worktree,
            hint="set your identity: git config user.name NAME && git config user.email EMAIL")
        commit = git("rev-parse", "HEAD", cwd=worktree)
        git("push", "--quiet", remote, f"{branch}:refs/heads/{branch}", cwd=worktree,
            hint=f"check that you may push to `{remote}` and that the branch name is free; --no-pr writes the files locally instead")
        return commit
    finally:
        git("worktree", "remove", "--force", str(worktree), cwd=repo, check=False)
        git("branch", "-D", branch, cwd=repo, check=False)
        shutil.rmtree(scratch, ignore_errors=True)


def _api(method: str, url: str, token: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode("utf-8"),
        method=method,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "Content-Type": "application/json",
            "User-Agent": "vedder",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def _api_failure(exc: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        data = {}
    details = [e.get("message") or e.get("code", "") for e in data.get("errors") or [] if isinstance(e, dict)]
    return "; ".join([data.get("message") or exc.reason or "", *[d for d in details if d]]).strip("; ")


def _open_with_api(result: PullRequestResult, repository: str, token: str, title: str, body: str, reviewers: list[str]) -> None:
    api = os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL
    pulls = f"{api.rstrip('/')}/repos/{repository}/pulls"
    pushed = f"branch {result.branch} was pushed; open the pull request on GitHub, or run: gh pr create --head {result.branch} --base {result.base}"
    try:
        created = _api("POST", pulls, token, {"title": title, "body": body, "head": result.branch, "base": result.base})
    except urllib.error.HTTPError as exc:
        message = _api_failure(exc)
        hints = {
            401: "GITHUB_TOKEN was refused: check it is valid and not expired",
            403: "GITHUB_TOKEN lacks permission: it needs `pull requests: write` on the repository",
            404: f"check GITHUB_REPOSITORY ({repository}) and that the token can see it",
            422: f"GitHub refused the pull request (is base `{result.base}` on GitHub? does one exist for this branch?)",
        }
        raise PullRequestError(f"GitHub API {exc.code} creating the pull request: {message}", f"{hints.get(exc.code, 'check the GitHub API response')}; {pushed}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PullRequestError(f"cannot reach the GitHub API at {api}: {reason}", f"check GITHUB_API_URL and the network; {pushed}") from None
    result.method, result.url, result.number = "api", created.get("html_url"), created.get("number")
    if reviewers and result.number is not None:
        try:
            _api("POST", f"{pulls}/{result.number}/requested_reviewers", token, {"reviewers": reviewers})
            result.reviewers = reviewers
        except urllib.error.HTTPError as exc:
            result.warnings.append(f"could not request reviewers {', '.join(reviewers)}: {exc.code} {_api_failure(exc)}")
        except (urllib.error.URLError, OSError) as exc:
            result.warnings.append(f"could not request reviewers: {getattr(exc, 'reason', exc)}")


def _open_with_gh(result: PullRequestResult, repo: Path, command: list[str]) -> None:
    completed = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        detail = next((line for line in completed.stderr.splitlines() if line.strip()), "failed")
        raise PullRequestError(f"gh pr create: {detail}", f"run `gh auth login`, or set GITHUB_TOKEN; branch {result.branch} was pushed")
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    result.method, result.url = "gh", lines[-1] if lines else None
    result.reviewers = command[command.index("--reviewer") + 1].split(",") if "--reviewer" in command else []
