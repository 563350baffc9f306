"""The getting-started store's durable state: store records kept on a git branch.

Without a bucket, each CI job starts with an empty working store. What must outlive a job
is small and write-once: the rollout's decisions (``records/rollout*``), the production
baseline (``records/baselines``), the candidate records they name (``records/candidates``)
and the lineage log (``records/lineage``). :func:`pull_state` copies those records from a
branch of the repository's remote (default ``alignment-ci/state``) into the working store;
:func:`push_state` publishes the working store's new ones as one commit on that branch.

Records are write-once, so two copies merge by union. A record both sides wrote with
different content (two jobs deciding the same rollout step, or appending the same lineage
entry) is a :class:`StateConflict`: nothing is pushed, and the job that lost reruns after
a pull. The branch moves only by fast-forward pushes: a push that finds the branch moved
fetches it again and retries, so concurrent jobs never overwrite each other.

Run records (``records/runs``) stay out: their models are blobs, which the branch does not
keep, and a run record without its model would be a false cache hit.

Authentication: the remote's own (a checkout's credentials); with ``GITHUB_TOKEN`` in the
environment and an ``https://`` remote, the token is sent as actions/checkout does, through
git's environment configuration (never on a command line).
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, StoreError
from .base import ArtifactStore, record_key

DEFAULT_BRANCH = "alignment-ci/state"
STATE_KINDS: tuple[str, ...] = ("rollout", "rollout-done", "rollout-deployments", "baselines", "candidates", "lineage")
_FETCHED = "refs/alignment-ci/state"  # where the fetched branch is kept locally
_IDENTITY = {"GIT_AUTHOR_NAME": "alignment-ci", "GIT_AUTHOR_EMAIL": "alignment-ci@users.noreply.github.com"}


class StateConflict(StoreError):
    """The branch and the working store hold different content under one record key."""

    exit_code = 1


@dataclass
class StateSync:
    """What a pull or a push did."""

    remote: str
    branch: str
    head: str | None = None  # the branch's commit after the operation (None: no branch yet)
    copied: list[str] = field(default_factory=list)  # record keys pulled into the store, or pushed to the branch

    def to_dict(self) -> dict[str, object]:
        return {"remote": self.remote, "branch": self.branch, "head": self.head, "records": len(self.copied),
                "keys": self.copied}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    token = env.get("GITHUB_TOKEN")
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        n = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
        env.update({"GIT_CONFIG_COUNT": str(n + 1), f"GIT_CONFIG_KEY_{n}": "http.https://github.com/.extraheader",
                    f"GIT_CONFIG_VALUE_{n}": f"AUTHORIZATION: basic {basic}"})
    for key, value in _IDENTITY.items():
        env.setdefault(key, value)
    env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
    env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
    return env


def _git(repo: Path, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(["git", *args], cwd=repo, input=input, capture_output=True, env=env or _env())
    except FileNotFoundError:
        raise InputError("git is not installed: the state branch needs git") from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise StoreError(f"git {args[0]} failed: {message[-1] if message else proc.returncode}")
    return proc


def _fetch(repo: Path, remote: str, branch: str) -> str | None:
    """Fetch ``branch`` of ``remote``; its commit, or None when the remote has no such branch."""
    if _git(repo, "rev-parse", "--git-dir", check=False).returncode != 0:
        raise InputError(f"{repo}: not a git repository; the state branch lives in the repository's remote")
    if _git(repo, "remote", "get-url", remote, check=False).returncode != 0:
        raise InputError(f"the repository has no remote {remote!r} (git remote -v); name one with --remote")
    listed = _git(repo, "ls-remote", "--heads", remote, f"refs/heads/{branch}").stdout.decode().split()
    if not listed:
        return None
    _git(repo, "fetch", "--quiet", "--no-tags", remote, f"+refs/heads/{branch}:{_FETCHED}")
    return _git(repo, "rev-parse", _FETCHED).stdout.decode().strip()


def _tree(repo: Path, commit: str | None) -> dict[str, str]:
    """Record key -> blob id of the state records in ``commit``."""
    if commit is None:
        return {}
    out = _git(repo, "ls-tree", "-r", "-z", commit, "--", "records").stdout.decode("utf-8")
    entries: dict[str, str] = {}
    for entry in filter(None, out.split("\0")):
        meta, path = entry.split("\t", 1)
        if path.split("/")[1] in STATE_KINDS:
            entries[path] = meta.split()[2]
    return entries


def _local(store: ArtifactStore) -> dict[str, bytes]:
    """Record key -> bytes of the working store's state records."""
    found: dict[str, bytes] = {}
    for kind in STATE_KINDS:
        for key in store.list_records(kind):
            path = record_key(kind, key)
            data = store._read_object(path)
            if data is not None:
                found[path] = data
    return found


def _blob_id(repo: Path, data: bytes, write: bool = False) -> str:
    args = ["hash-object", "--stdin"] + (["-w"] if write else [])
    return _git(repo, *args, input=data).stdout.decode().strip()


def _conflicts(repo: Path, remote_tree: dict[str, str], local: dict[str, bytes], keys: Iterable[str]) -> list[str]:
    return sorted(k for k in keys if k in remote_tree and k in local and _blob_id(repo, local[k]) != remote_tree[k])


def _conflict_error(keys: list[str], branch: str) -> StateConflict:
    shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    return StateConflict(
        f"the state branch {branch} and this job's store both wrote {shown} with different content (two jobs "
        "changed the same rollout or lineage at once); nothing was pushed: pull the state again and rerun the command")


def pull_state(store: ArtifactStore, repo: str | Path, *, remote: str = "origin", branch: str = DEFAULT_BRANCH) -> StateSync:
    """Copy the branch's state records that the working store lacks into it."""
    repo = Path(repo)
    head = _fetch(repo, remote, branch)
    result = StateSync(remote, branch, head)
    tree = _tree(repo, head)
    local = _local(store)
    clash = _conflicts(repo, tree, local, tree)
    if clash:
        raise _conflict_error(clash, branch)
    for path, blob in sorted(tree.items()):
        if path in local:
            continue
        data = _git(repo, "cat-file", "blob", blob).stdout
        store._write_once(path, data)
        result.copied.append(path)
    return result


def push_state(store: ArtifactStore, repo: str | Path, *, remote: str = "origin", branch: str = DEFAULT_BRANCH,
               message: str = "alignment-ci state", attempts: int = 5) -> StateSync:
    """Publish the working store's state records the branch lacks, as one fast-forward commit."""
    repo = Path(repo)
    local = _local(store)
    for _ in range(attempts):
        head = _fetch(repo, remote, branch)
        tree = _tree(repo, head)
        clash = _conflicts(repo, tree, local, local)
        if clash:
            raise _conflict_error(clash, branch)
        new = sorted(k for k in local if k not in tree)
        if not new:
            return StateSync(remote, branch, head)
        with tempfile.TemporaryDirectory(prefix="alignment-ci-state-") as tmp:
            env = {**_env(), "GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if head is not None:
                _git(repo, "read-tree", head, env=env)
            lines = "".join(f"100644 {_blob_id(repo, local[k], write=True)}\t{k}\n" for k in new)
            _git(repo, "update-index", "--index-info", input=lines.encode("utf-8"), env=env)
            tree_id = _git(repo, "write-tree", env=env).stdout.decode().strip()
        parents = ["-p", head] if head is not None else []
        body = f"{message}\n\n" + "\n".join(new) + "\n"
        commit = _git(repo, "commit-tree", tree_id, *parents, input=body.encode("utf-8")).stdout.decode().strip()
        pushed = _git(repo, "push", "--quiet", "--porcelain", remote, f"{commit}:refs/heads/{branch}", check=False)
        if pushed.returncode == 0:
            return StateSync(remote, branch, commit, new)
        said = (pushed.stdout + pushed.stderr).decode("utf-8", "replace")
        if not any(word in said for word in ("non-fast-forward", "fetch first", "rejected", "stale info", "already exists")):
            lines_said = said.strip().splitlines()
            raise StoreError(f"git push to {remote} {branch} failed: {lines_said[-1] if lines_said else pushed.returncode}")
    raise StoreError(f"the state branch {branch} kept moving: {attempts} pushes were overtaken; run the push again")
