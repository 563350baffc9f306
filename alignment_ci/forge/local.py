"""The local forge: what would be published to GitHub, written as files under the workspace.

Layout under ``<workspace>/.alignment-ci/forge/`` (every file written atomically:
temporary file, fsync, rename; read-modify-write steps hold a lock file)::

    comments/<pr>/<kind>.md          the sticky comment's body, marker first
    comments/index.json              {"<pr>/<kind>": {id, pr, kind, path, url, created_at, updated_at, revisions}}
    statuses/<sha>.json              {sha, statuses: {context: {state, description, target_url, updated_at}}, history: [...]}
    checks/<sha>.json                {sha, check_runs: [{id, name, conclusion, title, summary, text, details_url, created_at}]}
    prs/index.json                   {"<branch>": {number, url, branch, base, title, body, files, state, created_at, updated_at}}
    prs/<number>/files/<path>        the files the pull request would add
    deployments/<id>.json            {id, ref, environment, payload, created_at, statuses: [{state, description, ...}]}

The same argument checks as the GitHub forge apply, so a mistake shows up in the demo,
not first in production.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..atomic import write_atomic as _write_atomic
from .base import (
    CHECK_CONCLUSIONS,
    CHECK_SUMMARY_MAX_CHARS,
    COMMIT_STATES,
    DEFAULT_CHECK_NAME,
    DEFAULT_STATUS_CONTEXT,
    DEPLOYMENT_STATES,
    CheckRunRef,
    CommentRef,
    ForgeError,
    PullRequestRef,
    check_branch,
    check_choice,
    check_kind,
    check_pr,
    check_repo_path,
    check_sha,
    short_description,
    sticky_body,
)

DEFAULT_LOCAL_DIR = ".alignment-ci/forge"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _write_json(path: Path, obj: Any) -> None:
    _write_atomic(path, (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ForgeError(f"{path}: not valid JSON ({exc}); delete it to start the local forge afresh") from None


class LocalForge:
    """The embedded forge: files under ``root`` (default ``<workspace>/.alignment-ci/forge``)."""

    name = "local"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @classmethod
    def for_workspace(cls, workspace: str | os.PathLike[str], path: str = DEFAULT_LOCAL_DIR) -> "LocalForge":
        p = Path(path)
        return cls(p if p.is_absolute() else Path(workspace) / p)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time across processes (read-modify-write of the index files)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+b") as fh:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - Windows: single-process use only
                yield
                return
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # ------------------------------------------------------------- comments
    def upsert_comment(self, pr: int, kind: str, body: str) -> CommentRef:
        check_pr(pr)
        check_kind(kind)
        text = sticky_body(kind, body)
        path = self.root / "comments" / str(pr) / f"{kind}.md"
        index_path = self.root / "comments" / "index.json"
        with self._locked():
            index = _read_json(index_path, {})
            key = f"{pr}/{kind}"
            entry = index.get(key)
            created = entry is None
            if created:
                entry = {
                    "id": max((e["id"] for e in index.values()), default=0) + 1,
                    "pr": pr,
                    "kind": kind,
                    "path": str(path.relative_to(self.root)),
                    "url": path.resolve().as_uri(),
                    "created_at": _now(),
                    "revisions": 0,
                }
            changed = created or not path.exists() or path.read_text(encoding="utf-8") != text
            if changed:
                _write_atomic(path, text.encode("utf-8"))
                entry["revisions"] += 1
                entry["updated_at"] = _now()
                index[key] = entry
                _write_json(index_path, index)
        return CommentRef(id=entry["id"], url=entry["url"], created=created, changed=changed)

    def read_comment(self, pr: int, kind: str) -> str | None:
        """The body last published for ``(pr, kind)``, marker included; None when none."""
        path = self.root / "comments" / str(check_pr(pr)) / f"{check_kind(kind)}.md"
        return path.read_text(encoding="utf-8") if path.exists() else None

    # ------------------------------------------------------------- statuses
    def set_status(
        self,
        sha: str,
        state: str,
        description: str,
        target_url: str | None = None,
        context: str = DEFAULT_STATUS_CONTEXT,
    ) -> dict[str, Any]:
        check_sha(sha)
        check_choice(state, COMMIT_STATES, "commit status state")
        status = {
            "context": context,
            "state": state,
            "description": short_description(description),
            "target_url": target_url,
            "updated_at": _now(),
        }
        path = self.root / "statuses" / f"{sha}.json"
        with self._locked():
            doc = _read_json(path, {"sha": sha, "statuses": {}, "history": []})
            doc["statuses"][context] = status
            doc["history"].append(status)
            _write_json(path, doc)
        return status

    def statuses(self, sha: str) -> dict[str, dict[str, Any]]:
        """The latest status per context on ``sha``."""
        return _read_json(self.root / "statuses" / f"{check_sha(sha)}.json", {"statuses": {}})["statuses"]

    # ------------------------------------------------------------- checks
    def create_check_run(
        self,
        sha: str,
        conclusion: str,
        title: str,
        summary: str,
        text: str | None = None,
        details_url: str | None = None,
        name: str = DEFAULT_CHECK_NAME,
    ) -> CheckRunRef:
        check_sha(sha)
        check_choice(conclusion, CHECK_CONCLUSIONS, "check run conclusion")
        path = self.root / "checks" / f"{sha}.json"
        with self._locked():
            doc = _read_json(path, {"sha": sha, "check_runs": []})
            run_id = len(doc["check_runs"]) + 1
            doc["check_runs"].append(
                {
                    "id": run_id,
                    "name": name,
                    "status": "completed",
                    "conclusion": conclusion,
                    "title": title,
                    "summary": summary[:CHECK_SUMMARY_MAX_CHARS],
                    "text": text,
                    "details_url": details_url,
                    "created_at": _now(),
                }
            )
            _write_json(path, doc)
        return CheckRunRef(id=run_id, url=f"{path.resolve().as_uri()}#{run_id}")

    # ------------------------------------------------------------- pull requests
    def merge_pull_request(self, number: int, into: str | Path) -> list[str]:
        """Merge an open pull request of the local sink: write its files into ``into`` (the
        working tree, as a merge would) and mark it merged. Returns the paths written."""
        index_path = self.root / "prs" / "index.json"
        with self._locked():
            index = _read_json(index_path, {})
            branch, entry = next(((b, e) for b, e in index.items() if e["number"] == number), (None, None))
            if entry is None:
                raise ForgeError(f"no pull request #{number} in the local forge")
            if entry["state"] != "open":
                raise ForgeError(f"pull request #{number} is {entry['state']}, not open")
            files_dir = self.root / "prs" / str(number) / "files"
            for p in entry["files"]:
                check_repo_path(p)
                _write_atomic(Path(into) / p, (files_dir / p).read_bytes())
            entry["state"] = "merged"
            entry["updated_at"] = _now()
            index[branch] = entry
            _write_json(index_path, index)
        return list(entry["files"])

    def open_pull_request(
        self, branch: str, base: str, title: str, body: str, files: dict[str, bytes]
    ) -> PullRequestRef:
        check_branch(branch)
        check_branch(base)
        if branch == base:
            raise ForgeError(f"cannot open a pull request from {branch!r} onto itself: use a new branch name")
        for p, content in files.items():
            check_repo_path(p)
            if not isinstance(content, (bytes, bytearray)):
                raise ForgeError(f"file {p!r}: content must be bytes, got {type(content).__name__}")
        index_path = self.root / "prs" / "index.json"
        with self._locked():
            index = _read_json(index_path, {})
            entry = index.get(branch)
            created = entry is None or entry.get("state") != "open"
            if created:
                number = max((e["number"] for e in index.values()), default=0) + 1
                pr_dir = self.root / "prs" / str(number)
                entry = {
                    "number": number,
                    "url": pr_dir.resolve().as_uri(),
                    "branch": branch,
                    "base": base,
                    "title": title,
                    "body": body,
                    "files": [],
                    "state": "open",
                    "created_at": _now(),
                }
            files_dir = self.root / "prs" / str(entry["number"]) / "files"
            for p, content in sorted(files.items()):
                target = files_dir / p
                if not target.exists() or target.read_bytes() != bytes(content):
                    _write_atomic(target, bytes(content))
            entry["files"] = sorted(set(entry["files"]) | set(files))
            entry["updated_at"] = _now()
            index[branch] = entry
            _write_json(index_path, index)
        return PullRequestRef(number=entry["number"], url=entry["url"], created=created)

    def pull_requests(self) -> dict[str, dict[str, Any]]:
        """Every pull request opened locally, by head branch."""
        return _read_json(self.root / "prs" / "index.json", {})

    # ------------------------------------------------------------- deployments
    def create_deployment(self, ref: str, environment: str, payload: dict[str, Any]) -> int:
        if not ref or not environment:
            raise ForgeError("a deployment needs a ref (branch, tag or sha) and an environment name")
        with self._locked():
            existing = [int(p.stem) for p in (self.root / "deployments").glob("*.json") if p.stem.isdigit()]
            dep_id = max(existing, default=0) + 1
            _write_json(
                self.root / "deployments" / f"{dep_id}.json",
                {
                    "id": dep_id,
                    "ref": ref,
                    "environment": environment,
                    "payload": payload,
                    "created_at": _now(),
                    "statuses": [],
                },
            )
        return dep_id

    def set_deployment_status(
        self, deployment_id: int, state: str, description: str, target_url: str | None = None
    ) -> dict[str, Any]:
        check_choice(state, DEPLOYMENT_STATES, "deployment state")
        path = self.root / "deployments" / f"{int(deployment_id)}.json"
        status = {
            "state": state,
            "description": short_description(description),
            "target_url": target_url,
            "created_at": _now(),
        }
        with self._locked():
            doc = _read_json(path, None)
            if doc is None:
                raise ForgeError(f"deployment {deployment_id} not found under {path.parent}: create it first")
            doc["statuses"].append(status)
            _write_json(path, doc)
        return status

    def deployment(self, deployment_id: int) -> dict[str, Any] | None:
        return _read_json(self.root / "deployments" / f"{int(deployment_id)}.json", None)
