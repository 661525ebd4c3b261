"""open_pull_request: a temporary worktree, a pushed branch, and a PR through a fake GitHub API on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fake_github import FakeGitHub
from vedder.curation.pull_request import github_repository, open_pull_request
from vedder.errors import GitError, PullRequestError


def run(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A clone of a local bare ``origin`` with one commit on main and a dirty working tree."""
    origin = tmp_path / "origin.git"
    run("init", "--quiet", "--bare", "--initial-branch=main", str(origin), cwd=tmp_path)
    work = tmp_path / "work"
    run("clone", "--quiet", str(origin), str(work), cwd=tmp_path)
    run("config", "user.name", "Ana Expert", cwd=work)
    run("config", "user.email", "ana@example.com", cwd=work)
    run("checkout", "--quiet", "-b", "main", cwd=work)
    (work / "clusters" / "listening" / "pairs").mkdir(parents=True)
    (work / "clusters" / "listening" / "pairs" / "old.yaml").write_text("question: old\n")
    (work / "vedder.yaml").write_text("dialect: duckdb\n")
    run("add", ".", cwd=work)
    run("commit", "--quiet", "-m", "initial", cwd=work)
    run("push", "--quiet", "-u", "origin", "main", cwd=work)
    (work / "vedder.yaml").write_text("dialect: duckdb\n# my uncommitted edit\n")
    (work / "scratch.txt").write_text("untracked work in progress\n")
    return work


CHANGES = {
    "clusters/listening/proposals/abc.yaml": "question: Number of streams per country\n",
    "clusters/listening/pairs/old.yaml": None,
}


def open_pr(repo: Path, **overrides):
    arguments = dict(branch="vedder/propose/listening-2026-11-26", title="vedder propose: 1 proposal for listening",
                     body="queries 10 → proposed 1", changes=CHANGES, reviewers=["ana", "bo"])
    arguments.update(overrides)
    return open_pull_request(repo, **arguments)


def test_pull_request_through_the_api_leaves_the_working_tree_alone(repo: Path, monkeypatch):
    status_before = run("status", "--porcelain", cwd=repo)
    with FakeGitHub() as github:
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/warehouse")
        result = open_pr(repo)
    assert result.method == "api"
    assert result.url == "https://github.test/acme/warehouse/pull/1"
    assert result.branch == "vedder/propose/listening-2026-11-26" and result.base == "main"
    [pull] = github.pulls()
    assert pull == {"title": "vedder propose: 1 proposal for listening", "body": "queries 10 → proposed 1",
                    "head": "vedder/propose/listening-2026-11-26", "base": "main"}
    assert github.reviewer_requests() == [{"reviewers": ["ana", "bo"]}]
    headers = github.requests[0][2]
    assert headers["Authorization"] == "Bearer t0ken"
    # The branch is on origin with exactly the changes, one commit on top of main.
    origin = repo.parent / "origin.git"
    files = run("ls-tree", "-r", "--name-only", result.branch, cwd=origin).splitlines()
    assert files == ["clusters/listening/proposals/abc.yaml", "vedder.yaml"]
    assert run("show", f"{result.branch}:clusters/listening/proposals/abc.yaml", cwd=origin) == "question: Number of streams per country"
    assert run("log", "--format=%s|%an", "-1", result.branch, cwd=origin) == "vedder propose: 1 proposal for listening|Vedder Test"
    assert run("rev-parse", f"{result.branch}^", cwd=origin) == run("rev-parse", "main", cwd=origin)
    # The user's branch, index, uncommitted edits and untracked files are untouched.
    assert run("rev-parse", "--abbrev-ref", "HEAD", cwd=repo) == "main"
    assert run("status", "--porcelain", cwd=repo) == status_before
    assert (repo / "vedder.yaml").read_text().endswith("# my uncommitted edit\n")
    assert (repo / "clusters/listening/pairs/old.yaml").exists()
    assert not (repo / "clusters/listening/proposals").exists()
    assert "vedder-pr-" not in run("worktree", "list", cwd=repo)


def test_branch_name_is_made_unique_and_paths_are_relative_to_a_project_subfolder(repo: Path, monkeypatch):
    project = repo / "analytics"
    project.mkdir()
    with FakeGitHub() as github:
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        monkeypatch.setenv("GITHUB_TOKEN", "t")
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/warehouse")
        first = open_pr(repo, changes={"a.txt": "1\n"})
        second = open_pull_request(project, branch=first.branch, title="again", body="b", changes={"a.txt": "2\n"})
    assert second.branch == first.branch + "-2"
    assert run("show", f"{second.branch}:analytics/a.txt", cwd=repo.parent / "origin.git") == "2"
    assert second.reviewers == [] and len(github.reviewer_requests()) == 1


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (401, {"message": "Bad credentials"}, "GitHub API 401 creating the pull request: Bad credentials"),
        (422, {"message": "Validation Failed", "errors": [{"message": "A pull request already exists"}]},
         "GitHub API 422 creating the pull request: Validation Failed; A pull request already exists"),
    ],
)
def test_api_errors_are_one_line_with_hints(repo: Path, monkeypatch, status, body, expected):
    with FakeGitHub() as github:
        github.fail["/pulls"] = (status, body)
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        monkeypatch.setenv("GITHUB_TOKEN", "bad")
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/warehouse")
        with pytest.raises(PullRequestError) as error:
            open_pr(repo)
    assert error.value.message == expected
    assert "was pushed" in error.value.hint


def test_reviewer_request_failure_is_a_warning(repo: Path, monkeypatch):
    with FakeGitHub() as github:
        github.fail["/requested_reviewers"] = (422, {"message": "Reviews may only be requested from collaborators."})
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        monkeypatch.setenv("GITHUB_TOKEN", "t")
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/warehouse")
        result = open_pr(repo)
    assert result.url and result.reviewers == []
    assert "collaborators" in result.warnings[0]


def test_without_origin_nothing_happens(repo: Path):
    run("remote", "remove", "origin", cwd=repo)
    with pytest.raises(GitError, match="no `origin` remote"):
        open_pr(repo)
    assert run("branch", "--list", "vedder/*", cwd=repo) == ""


def test_rejected_push_is_a_git_error(repo: Path):
    hook = repo.parent / "origin.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are closed' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(GitError) as error:
        open_pr(repo)
    assert error.value.message.startswith("git push:")
    assert "--no-pr" in error.value.hint
    assert run("branch", "--list", "vedder/*", cwd=repo) == ""


def test_gh_cli_is_used_without_a_token(repo: Path, tmp_path: Path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'gh-args'}\necho https://github.test/pr/7\n")
    (bin_dir / "gh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = open_pr(repo)
    assert (result.method, result.url, result.reviewers) == ("gh", "https://github.test/pr/7", ["ana", "bo"])
    args = (tmp_path / "gh-args").read_text()
    assert "pr create --base main --head vedder/propose/listening-2026-11-26" in args and "--reviewer ana,bo" in args


def test_without_token_or_gh_the_command_is_returned(repo: Path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    result = open_pr(repo)
    assert result.method == "command" and result.url is None
    assert result.command.startswith("gh pr create --base main --head vedder/propose/listening-2026-11-26 --title")


def test_github_repository_from_remote_urls():
    assert github_repository("https://github.com/acme/warehouse.git") == "acme/warehouse"
    assert github_repository("ssh://git@github.com/acme/warehouse") == "acme/warehouse"
    assert github_repository("git@github.com:acme/warehouse.git") == "acme/warehouse"
    assert github_repository("/srv/git/origin.git") is None


def test_fetch_of_open_branches_gives_up_on_a_remote_that_never_answers(tmp_path, monkeypatch):
    """Offline or a silent server: `propose` and `review` go on with what was fetched before instead of
    hanging (a real git fetch against a local socket that accepts and never replies)."""
    import socket
    import subprocess
    import threading
    import time

    import vedder.curation.pull_request as pull_request

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    repo = tmp_path / "repo"
    repo.mkdir()
    for command in (["init", "-q"], ["remote", "add", "origin", f"http://127.0.0.1:{server.getsockname()[1]}/r.git"],
                    ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(["git", *command], cwd=repo, check=True)
    monkeypatch.setattr(pull_request, "FETCH_TIMEOUT_S", 1.0)
    started = time.perf_counter()
    assert pull_request.open_branch_files(repo, "vedder/propose/", "clusters") == {}
    assert held, "git really tried the remote"
    # Not a speed check: without the timeout this call never returns (the server never answers).
    assert time.perf_counter() - started < 60
    server.close()
