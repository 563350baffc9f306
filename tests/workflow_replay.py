"""Replay a GitHub Actions workflow's `run:` steps on this machine, under the Actions contract.

What is replayed, as GitHub documents it
(https://docs.github.com/en/actions/reference/workflows-and-actions):

* jobs in the order their ``needs`` impose; a job's ``if:`` decides whether it runs
  (default ``success()``: every ancestor job succeeded); a job whose ``if:`` is false is
  ``skipped``; job ``outputs`` are evaluated after its steps;
* steps in order; a step's ``if:`` (default ``success()``: no earlier step of the job
  failed); ``run:`` steps execute with ``bash --noprofile --norc -eo pipefail`` (the
  ``shell: bash`` template), in ``working-directory``, with the workflow, job and step
  ``env`` (evaluated), the variables earlier steps appended to ``$GITHUB_ENV``, and the
  files ``$GITHUB_OUTPUT``, ``$GITHUB_ENV``, ``$GITHUB_STEP_SUMMARY``, ``$GITHUB_PATH``
  (one set per step; ``name=value`` and ``name<<DELIMITER`` multi-line values);
  ``$GITHUB_EVENT_PATH`` points at the event payload; ``continue-on-error`` keeps the
  job going;
* ``${{ }}`` expressions in ``run``, ``env``, ``with``, ``if`` and ``outputs`` over the
  contexts ``github`` (``event`` is the payload), ``env``, ``vars``, ``secrets`` (always
  empty: a replay holds no secrets), ``inputs``, ``steps``, ``needs``, ``job``, ``runner``
  — literals, ``!``, ``==``/``!=``/``<``/``<=``/``>``/``>=`` (GitHub's loose, case-insensitive
  equality), ``&&``/``||`` (returning an operand), property access, ``*`` filters, and the
  functions ``success()``, ``failure()``, ``always()``, ``cancelled()``, ``contains``,
  ``startsWith``, ``endsWith``, ``format``, ``join``, ``toJSON``, ``fromJSON``.

What is not: ``uses:`` steps (checkout, setup-python, the set-up composite action,
artifact upload/download) are environment set-up. They are recorded as ``setup`` and not
executed: the replay runs in a workspace that is already a checkout, with alignment-ci
already on ``PATH``, and all jobs share that one workspace, so a file an earlier job
"uploaded" is where a later job would have downloaded it. Matrices, services, containers
and ``hashFiles`` are not supported (the workflows here use none); an expression outside
the subset raises :class:`ReplayError` rather than guessing.

``github.sha`` on a ``pull_request`` is the head commit here (GitHub uses a temporary
merge commit); ``GITHUB_REF`` is ``refs/pull/N/merge`` as on GitHub.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STATUS_FUNCTIONS = ("success", "failure", "always", "cancelled")


class ReplayError(Exception):
    """The workflow uses something the replay does not support, or is malformed."""


# ----------------------------------------------------------------------------- expressions

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<num>-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?))
      | (?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,*])
      | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ReplayError(f"cannot parse expression at {text[pos:pos + 20]!r} in {text!r}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


class _Filtered(list):
    """The result of a ``*`` filter: property access maps over the elements."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        return value is None or self.tokens[self.i][1] == value

    def take(self, value: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens) or (value is not None and self.tokens[self.i][1] != value):
            raise ReplayError(f"expected {value or 'a token'} in expression {self.text!r}")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse(self) -> tuple:
        node = self.or_()
        if self.i != len(self.tokens):
            raise ReplayError(f"unexpected {self.tokens[self.i][1]!r} in expression {self.text!r}")
        return node

    def or_(self) -> tuple:
        node = self.and_()
        while self.peek("||"):
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> tuple:
        node = self.cmp()
        while self.peek("&&"):
            self.take()
            node = ("and", node, self.cmp())
        return node

    def cmp(self) -> tuple:
        node = self.unary()
        while self.i < len(self.tokens) and self.tokens[self.i][1] in ("==", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            node = ("cmp", op, node, self.unary())
        return node

    def unary(self) -> tuple:
        if self.peek("!"):
            self.take()
            return ("not", self.unary())
        return self.postfix()

    def postfix(self) -> tuple:
        node = self.primary()
        while True:
            if self.peek("."):
                self.take()
                if self.peek("*"):
                    self.take()
                    node = ("star", node)
                else:
                    kind, name = self.take()
                    if kind != "ident":
                        raise ReplayError(f"expected a property name after '.' in {self.text!r}")
                    node = ("prop", node, ("lit", name))
            elif self.peek("["):
                self.take()
                if self.peek("*"):
                    self.take()
                    node = ("star", node)
                else:
                    node = ("prop", node, self.or_())
                self.take("]")
            else:
                return node

    def primary(self) -> tuple:
        kind, value = self.take()
        if kind == "str":
            return ("lit", value[1:-1].replace("''", "'"))
        if kind == "num":
            return ("lit", float(int(value, 16)) if value.lower().startswith(("0x", "-0x")) else float(value))
        if value == "(":
            node = self.or_()
            self.take(")")
            return node
        if kind == "ident":
            if value in ("true", "false"):
                return ("lit", value == "true")
            if value == "null":
                return ("lit", None)
            if self.peek("("):
                self.take()
                args = []
                while not self.peek(")"):
                    args.append(self.or_())
                    if not self.peek(")"):
                        self.take(",")
                self.take(")")
                return ("call", value, args)
            return ("ctx", value)
        raise ReplayError(f"unexpected {value!r} in expression {self.text!r}")


def uses_status_function(expression: str) -> bool:
    tokens = _tokenize(expression)
    return any(
        kind == "ident" and value in STATUS_FUNCTIONS and i + 1 < len(tokens) and tokens[i + 1][1] == "("
        for i, (kind, value) in enumerate(tokens)
    )


def _to_number(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return 0.0
        try:
            return float(int(s, 16)) if s.lower().startswith("0x") else float(s)
        except ValueError:
            return math.nan
    return math.nan


def truthy(v: Any) -> bool:
    if v is None or v is False or v == "":
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return not (v == 0 or math.isnan(v))
    return True


def _loose_equal(a: Any, b: Any) -> bool:
    """GitHub's ==: same type compares directly (strings ignoring case); otherwise as numbers."""
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return a is b
    if type(a) is type(b) or (a is None and b is None):
        return a == b
    x, y = _to_number(a), _to_number(b)
    return not (math.isnan(x) or math.isnan(y)) and x == y


def to_string(v: Any) -> str:
    """How a value is written into a string (``run:``, ``env:``, outputs)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, indent=2)
    return str(v)


def _get(obj: Any, key: Any) -> Any:
    if isinstance(obj, _Filtered):
        out = _Filtered()
        for item in obj:
            value = _get(item, key)
            if value is not None:
                out.append(value)
        return out
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        if isinstance(key, str):  # contexts and their properties are case-insensitive
            for k, v in obj.items():
                if isinstance(k, str) and k.casefold() == key.casefold():
                    return v
        return None
    if isinstance(obj, list) and isinstance(key, (int, float)) and not isinstance(key, bool):
        idx = int(key)
        return obj[idx] if 0 <= idx < len(obj) else None
    return None


@dataclass
class Status:
    """What the status functions see: whether something earlier failed (or was skipped)."""

    failed: bool = False
    all_succeeded: bool = True
    cancelled: bool = False


def evaluate(expression: str, contexts: Mapping[str, Any], status: Status | None = None) -> Any:
    """Evaluate one expression (without the ``${{ }}``) over ``contexts``."""
    status = status or Status()
    tree = _Parser(expression).parse()

    def ev(node: tuple) -> Any:
        op = node[0]
        if op == "lit":
            return node[1]
        if op == "ctx":
            name = node[1]
            if name not in contexts:
                raise ReplayError(f"unknown context {name!r} in {expression!r}")
            return contexts[name]
        if op == "prop":
            return _get(ev(node[1]), ev(node[2]))
        if op == "star":
            base = ev(node[1])
            if isinstance(base, dict):
                return _Filtered(base.values())
            if isinstance(base, list):
                return _Filtered(base)
            return _Filtered()
        if op == "not":
            return not truthy(ev(node[1]))
        if op == "and":
            left = ev(node[1])
            return ev(node[2]) if truthy(left) else left
        if op == "or":
            left = ev(node[1])
            return left if truthy(left) else ev(node[2])
        if op == "cmp":
            a, b, o = ev(node[2]), ev(node[3]), node[1]
            if o == "==":
                return _loose_equal(a, b)
            if o == "!=":
                return not _loose_equal(a, b)
            if isinstance(a, str) and isinstance(b, str):
                x, y = a.casefold(), b.casefold()
            else:
                x, y = _to_number(a), _to_number(b)
                if math.isnan(x) or math.isnan(y):
                    return False
            return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[o]
        if op == "call":
            return call(node[1].lower(), [ev(a) for a in node[2]])
        raise ReplayError(f"cannot evaluate {node!r}")

    def call(name: str, args: list[Any]) -> Any:
        if name == "success":
            return status.all_succeeded and not status.cancelled
        if name == "failure":
            return status.failed
        if name == "always":
            return True
        if name == "cancelled":
            return status.cancelled
        if name == "contains":
            hay, needle = args
            if isinstance(hay, list):
                return any(_loose_equal(item, needle) for item in hay)
            return to_string(needle).casefold() in to_string(hay).casefold()
        if name == "startswith":
            return to_string(args[0]).casefold().startswith(to_string(args[1]).casefold())
        if name == "endswith":
            return to_string(args[0]).casefold().endswith(to_string(args[1]).casefold())
        if name == "format":
            text = to_string(args[0])
            return re.sub(r"\{(\d+)\}", lambda m: to_string(args[1 + int(m.group(1))]), text).replace("{{", "{").replace("}}", "}")
        if name == "join":
            items = args[0] if isinstance(args[0], list) else [args[0]]
            sep = to_string(args[1]) if len(args) > 1 else ","
            return sep.join(to_string(x) for x in items)
        if name == "tojson":
            return json.dumps(args[0], indent=2)
        if name == "fromjson":
            return json.loads(to_string(args[0]))
        raise ReplayError(f"function {name}() is not supported by the replay ({expression!r})")

    return ev(tree)


def _split_template(text: str) -> list[tuple[bool, str]]:
    """Literal parts and ``${{ }}`` expressions of ``text``, in order."""
    parts: list[tuple[bool, str]] = []
    pos = 0
    while True:
        start = text.find("${{", pos)
        if start < 0:
            parts.append((False, text[pos:]))
            return parts
        parts.append((False, text[pos:start]))
        i, in_str = start + 3, False
        while i < len(text):
            if text[i] == "'":
                in_str = not in_str
            elif not in_str and text.startswith("}}", i):
                break
            i += 1
        else:
            raise ReplayError(f"unterminated ${{{{ in {text[start:start + 40]!r}")
        parts.append((True, text[start + 3:i]))
        pos = i + 2


def substitute(value: Any, contexts: Mapping[str, Any], status: Status | None = None) -> Any:
    """Replace every ``${{ expr }}`` in a string (recursively in lists and mappings).

    A string that is exactly one expression keeps the expression's value's type."""
    if isinstance(value, dict):
        return {k: substitute(v, contexts, status) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, contexts, status) for v in value]
    if not isinstance(value, str) or "${{" not in value:
        return value
    parts = _split_template(value)
    exprs = [p for p in parts if p[0]]
    if len(exprs) == 1 and all(not text for is_expr, text in parts if not is_expr):
        return evaluate(exprs[0][1], contexts, status)
    return "".join(to_string(evaluate(text, contexts, status)) if is_expr else text for is_expr, text in parts)


def evaluate_if(condition: Any, contexts: Mapping[str, Any], status: Status) -> bool:
    """An ``if:`` value: with or without ``${{ }}``; ``success() &&`` is implied without a status function."""
    if condition is None:
        return truthy(evaluate("success()", contexts, status))
    if isinstance(condition, bool):
        condition = "true" if condition else "false"
    text = str(condition).strip()
    if text.startswith("${{") and text.endswith("}}") and text.count("${{") == 1:
        text = text[3:-2].strip()
    elif "${{" in text:
        text = to_string(substitute(text, contexts, status))
        return truthy(text) and truthy(evaluate("success()", contexts, status))
    if not uses_status_function(text):
        text = f"success() && ({text})"
    return truthy(evaluate(text, contexts, status))


# --------------------------------------------------------------------------------- files


def parse_env_file(text: str, what: str = "GITHUB_OUTPUT") -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIMITER`` … ``DELIMITER`` blocks, as the runner reads them."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r")
        i += 1
        if line == "":
            continue
        heredoc = line.find("<<")
        equals = line.find("=")
        if heredoc > 0 and (equals < 0 or heredoc < equals):
            name, delimiter = line[:heredoc], line[heredoc + 2:]
            if not delimiter:
                raise ReplayError(f"{what}: empty delimiter for {name!r}")
            body: list[str] = []
            while True:
                if i >= len(lines):
                    raise ReplayError(f"{what}: no closing delimiter {delimiter!r} for {name!r}")
                current = lines[i].rstrip("\r")
                i += 1
                if current == delimiter:
                    break
                body.append(current)
            values[name] = "\n".join(body)
        elif equals > 0:
            values[line[:equals]] = line[equals + 1:]
        else:
            raise ReplayError(f"{what}: invalid line {line!r} (expected name=value or name<<DELIMITER)")
    return values


# ------------------------------------------------------------------------------- payloads


def pull_request_event(
    *,
    repository: str,
    number: int,
    head_sha: str,
    base_sha: str,
    head_ref: str,
    base_ref: str = "main",
    head_repository: str | None = None,
    action: str = "synchronize",
    title: str = "Label batch",
    sender: str = "vendor-bot",
) -> dict[str, Any]:
    """A pull_request webhook payload with the fields workflows read (GitHub's documented shape)."""
    owner = repository.split("/")[0]
    head_repo = head_repository or repository

    def repo(full_name: str, rid: int) -> dict[str, Any]:
        o, name = full_name.split("/")
        return {"id": rid, "name": name, "full_name": full_name, "owner": {"login": o}, "fork": full_name != repository,
                "html_url": f"https://github.com/{full_name}", "default_branch": "main"}

    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "state": "open",
            "title": title,
            "html_url": f"https://github.com/{repository}/pull/{number}",
            "user": {"login": sender},
            "head": {"ref": head_ref, "sha": head_sha, "label": f"{head_repo.split('/')[0]}:{head_ref}", "repo": repo(head_repo, 2)},
            "base": {"ref": base_ref, "sha": base_sha, "label": f"{owner}:{base_ref}", "repo": repo(repository, 1)},
            "draft": False,
            "merged": False,
        },
        "repository": repo(repository, 1),
        "sender": {"login": sender},
    }


def push_event(*, repository: str, before: str, after: str, ref: str = "refs/heads/main", pusher: str = "release-manager") -> dict[str, Any]:
    """A push webhook payload (a merge to ``ref``)."""
    owner, name = repository.split("/")
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": False,
        "deleted": False,
        "forced": False,
        "head_commit": {"id": after, "message": "Merge pull request", "author": {"name": pusher}},
        "pusher": {"name": pusher},
        "repository": {"id": 1, "name": name, "full_name": repository, "owner": {"login": owner}, "default_branch": "main"},
        "sender": {"login": pusher},
    }


# --------------------------------------------------------------------------------- replay


@dataclass
class StepResult:
    job: str
    index: int
    name: str
    id: str | None
    kind: str  # "run" or "uses"
    outcome: str  # success, failure, skipped, setup
    conclusion: str
    outputs: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    log: str = ""
    summary: str = ""
    seconds: float = 0.0


@dataclass
class JobResult:
    name: str
    result: str  # success, failure, skipped
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    environment: Any = None
    permissions: Any = None

    @property
    def summary(self) -> str:
        """The job's step summary: every step's $GITHUB_STEP_SUMMARY, in order."""
        return "".join(s.summary for s in self.steps)

    def step(self, ref: str) -> StepResult:
        for s in self.steps:
            if s.id == ref or s.name == ref:
                return s
        raise KeyError(f"job {self.name} has no step {ref!r}; steps: {[s.id or s.name for s in self.steps]}")


@dataclass
class Replay:
    workflow: str
    event_name: str
    jobs: dict[str, JobResult]

    def __getitem__(self, job: str) -> JobResult:
        return self.jobs[job]

    def failed_steps(self) -> list[StepResult]:
        return [s for j in self.jobs.values() for s in j.steps if s.outcome == "failure"]

    def describe(self) -> str:
        """A log for assertion messages: jobs, steps, outcomes, and the output of failed steps."""
        lines = []
        for job in self.jobs.values():
            lines.append(f"job {job.name}: {job.result} {job.outputs}")
            for s in job.steps:
                lines.append(f"  [{s.outcome}] {s.id or s.name} ({s.seconds:.1f}s) exit={s.exit_code}")
                if s.outcome == "failure":
                    lines.append("    " + s.log[-3000:].replace("\n", "\n    "))
        return "\n".join(lines)


def _topological(jobs: Mapping[str, Any]) -> list[str]:
    order: list[str] = []
    pending = list(jobs)
    while pending:
        progressed = False
        for name in list(pending):
            needs = jobs[name].get("needs") or []
            needs = [needs] if isinstance(needs, str) else list(needs)
            unknown = [n for n in needs if n not in jobs]
            if unknown:
                raise ReplayError(f"job {name} needs unknown job(s) {unknown}")
            if all(n in order for n in needs):
                order.append(name)
                pending.remove(name)
                progressed = True
        if not progressed:
            raise ReplayError(f"jobs {pending} have circular needs")
    return order


def _needs_of(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _ancestors(jobs: Mapping[str, Any], name: str) -> set[str]:
    seen: set[str] = set()
    stack = _needs_of(jobs[name])
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(_needs_of(jobs[n]))
    return seen


class _AnyKey(dict):
    """``secrets``: every name reads as empty (a replay holds no secrets)."""

    def __missing__(self, key: str) -> str:
        return ""

    def get(self, key: Any, default: Any = None) -> Any:  # noqa: D401 - dict API
        return super().get(key, "")


def _load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ReplayError(f"{path}: not a YAML mapping")
    if True in data and "on" not in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


StepHook = Callable[[str, str | None, Path, dict[str, str]], None]


class WorkflowReplay:
    """Replays one workflow file in ``workspace`` (a checkout of the repository).

    ``env``: the runner's environment (``PATH`` with alignment-ci first, offline flags);
    ``vars``: repository variables; ``before_step(job, step_id, workspace, env)``: called
    before each ``run:`` step (tests use it to deliver simulated production events).
    """

    def __init__(
        self,
        workflow: str | Path,
        workspace: str | Path,
        *,
        env: Mapping[str, str] | None = None,
        vars: Mapping[str, str] | None = None,
        repository: str = "acme-ai/alignment-repo",
        actor: str = "vendor-bot",
        step_timeout_s: float = 900.0,
        before_step: StepHook | None = None,
    ) -> None:
        self.path = Path(workflow)
        self.workflow = _load_yaml(self.path)
        self.workspace = Path(workspace).resolve()
        self.env = dict(env if env is not None else os.environ)
        self.vars = dict(vars or {})
        self.repository = repository
        self.actor = actor
        self.step_timeout_s = step_timeout_s
        self.before_step = before_step

    # -------------------------------------------------------------- contexts
    def _github(self, event_name: str, event: dict[str, Any], event_path: Path, run_id: int) -> dict[str, Any]:
        pr = event.get("pull_request") or {}
        if event_name == "pull_request":
            sha, ref = pr["head"]["sha"], f"refs/pull/{pr['number']}/merge"
            head_ref, base_ref = pr["head"]["ref"], pr["base"]["ref"]
        else:
            sha = event.get("after") or self._git_head()
            ref = event.get("ref") or "refs/heads/main"
            head_ref = base_ref = ""
        owner = self.repository.split("/")[0]
        return {
            "event_name": event_name,
            "event": event,
            "event_path": str(event_path),
            "repository": self.repository,
            "repository_owner": owner,
            "sha": sha,
            "ref": ref,
            "ref_name": ref.rsplit("/", 1)[-1] if ref.startswith("refs/heads/") else ref.removeprefix("refs/"),
            "head_ref": head_ref,
            "base_ref": base_ref,
            "actor": self.actor,
            "triggering_actor": self.actor,
            "workspace": str(self.workspace),
            "run_id": str(run_id),
            "run_number": "1",
            "run_attempt": "1",
            "server_url": "https://github.com",
            "api_url": "https://api.github.com",
            "graphql_url": "https://api.github.com/graphql",
            "workflow": self.workflow.get("name", self.path.name),
            "token": "replay-token-without-scopes",
            "retention_days": "90",
            "action_path": str(self.workspace),
        }

    def _git_head(self) -> str:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=self.workspace, capture_output=True, text=True)
        return out.stdout.strip()

    def _base_env(self, github: dict[str, Any], runner_temp: Path) -> dict[str, str]:
        env = {k: v for k, v in self.env.items() if not k.startswith(("GITHUB_", "RUNNER_", "INPUT_"))}
        env.update({
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_EVENT_NAME": github["event_name"],
            "GITHUB_EVENT_PATH": github["event_path"],
            "GITHUB_REPOSITORY": github["repository"],
            "GITHUB_REPOSITORY_OWNER": github["repository_owner"],
            "GITHUB_SHA": github["sha"],
            "GITHUB_REF": github["ref"],
            "GITHUB_REF_NAME": github["ref_name"],
            "GITHUB_HEAD_REF": github["head_ref"],
            "GITHUB_BASE_REF": github["base_ref"],
            "GITHUB_ACTOR": github["actor"],
            "GITHUB_RUN_ID": github["run_id"],
            "GITHUB_RUN_NUMBER": github["run_number"],
            "GITHUB_RUN_ATTEMPT": github["run_attempt"],
            "GITHUB_SERVER_URL": github["server_url"],
            "GITHUB_API_URL": github["api_url"],
            "GITHUB_WORKFLOW": str(github["workflow"]),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
            "RUNNER_TEMP": str(runner_temp),
        })
        return env

    # ------------------------------------------------------------------- run
    def run(self, event_name: str, event: dict[str, Any], *, inputs: Mapping[str, Any] | None = None, run_id: int = 1) -> Replay:
        """Replay the workflow for one event; returns every job's and step's result."""
        triggers = self.workflow.get("on")
        names = [triggers] if isinstance(triggers, str) else list(triggers or [])
        if event_name not in names:
            raise ReplayError(f"{self.path.name} does not run on {event_name!r} (on: {names})")
        jobs: dict[str, Any] = self.workflow.get("jobs") or {}
        with tempfile.TemporaryDirectory(prefix="replay-runner-") as tmp:
            runner_temp = Path(tmp)
            event_path = runner_temp / "event.json"
            if event_name == "workflow_dispatch":
                event = {**event, "inputs": dict(inputs or {})}
            event_path.write_text(json.dumps(event, indent=2), encoding="utf-8")
            github = self._github(event_name, event, event_path, run_id)
            inputs_ctx = dict(inputs or {})
            if event_name == "workflow_dispatch":
                declared = (triggers.get("workflow_dispatch") or {}).get("inputs") or {} if isinstance(triggers, dict) else {}
                for name, spec in declared.items():
                    if name not in inputs_ctx and isinstance(spec, dict) and "default" in spec:
                        inputs_ctx[name] = spec["default"]
                    if isinstance(spec, dict) and spec.get("required") and name not in inputs_ctx:
                        raise ReplayError(f"workflow_dispatch input {name!r} is required")
            results: dict[str, JobResult] = {}
            for name in _topological(jobs):
                results[name] = self._run_job(name, jobs, results, github, inputs_ctx, runner_temp)
            return Replay(self.path.name, event_name, results)

    def _contexts(self, github: dict[str, Any], inputs: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "github": github,
            "vars": dict(self.vars),
            "secrets": _AnyKey(),
            "inputs": dict(inputs),
            "runner": {"os": "Linux", "arch": "X64", "temp": self.env.get("RUNNER_TEMP", ""), "name": "replay"},
            "strategy": {},
            "matrix": {},
            **extra,
        }

    def _run_job(self, name: str, jobs: Mapping[str, Any], results: Mapping[str, JobResult], github: dict[str, Any],
                 inputs: Mapping[str, Any], runner_temp: Path) -> JobResult:
        spec = jobs[name]
        if "uses" in spec:
            raise ReplayError(f"job {name}: reusable workflows are not replayed")
        if spec.get("strategy"):
            raise ReplayError(f"job {name}: matrix strategies are not replayed")
        ancestors = _ancestors(jobs, name)
        job_status = Status(
            failed=any(results[a].result == "failure" for a in ancestors),
            all_succeeded=all(results[a].result == "success" for a in ancestors),
        )
        needs_ctx = {n: {"result": results[n].result, "outputs": dict(results[n].outputs)} for n in _needs_of(spec)}
        gh = {**github, "job": name}
        ctx = self._contexts(gh, inputs, needs=needs_ctx)
        environment = substitute(spec.get("environment"), ctx, job_status)
        if not evaluate_if(spec.get("if"), ctx, job_status):
            return JobResult(name, "skipped", environment=environment, permissions=spec.get("permissions"))

        env: dict[str, str] = {}
        for scope in (self.workflow.get("env") or {}, spec.get("env") or {}):
            for k, v in scope.items():
                env[k] = to_string(substitute(v, {**ctx, "env": dict(env)}, job_status))
        defaults = {**((self.workflow.get("defaults") or {}).get("run") or {}), **((spec.get("defaults") or {}).get("run") or {})}
        steps_ctx: dict[str, Any] = {}
        step_results: list[StepResult] = []
        path_additions: list[str] = []
        failed = False
        for index, step in enumerate(spec.get("steps") or []):
            sid = step.get("id")
            label = step.get("name") or (f"Run {step['run'].splitlines()[0]}" if "run" in step else f"uses {step.get('uses')}")
            status = Status(failed=failed, all_succeeded=not failed)
            sctx = {**ctx, "env": dict(env), "steps": steps_ctx, "job": {"status": "failure" if failed else "success"}}
            if not evaluate_if(step.get("if"), sctx, status):
                result = StepResult(name, index, label, sid, "run" if "run" in step else "uses", "skipped", "skipped")
            elif "uses" in step:
                substitute(step.get("with") or {}, sctx, status)  # a broken expression still fails the replay
                result = StepResult(name, index, label, sid, "uses", "setup", "success")
            elif "run" in step:
                result = self._run_step(name, index, label, sid, step, sctx, status, env, defaults, path_additions,
                                        self._base_env(gh, runner_temp), runner_temp)
                if result.conclusion == "failure":
                    failed = True
            else:
                raise ReplayError(f"job {name} step {index}: neither run nor uses")
            step_results.append(result)
            if sid:
                steps_ctx[sid] = {"outputs": dict(result.outputs), "outcome": result.outcome if result.outcome != "setup" else "success",
                                  "conclusion": result.conclusion}
        final_ctx = {**ctx, "env": dict(env), "steps": steps_ctx}
        outputs = {k: to_string(substitute(v, final_ctx, Status(failed=failed, all_succeeded=not failed)))
                   for k, v in (spec.get("outputs") or {}).items()}
        return JobResult(name, "failure" if failed else "success", outputs, step_results, environment, spec.get("permissions"))

    def _run_step(self, job: str, index: int, label: str, sid: str | None, step: Mapping[str, Any], ctx: dict[str, Any],
                  status: Status, env: dict[str, str], defaults: Mapping[str, Any], path_additions: list[str],
                  base_env: dict[str, str], runner_temp: Path) -> StepResult:
        shell = step.get("shell") or defaults.get("shell") or "bash"
        if shell not in ("bash", "sh"):
            raise ReplayError(f"job {job} step {label!r}: shell {shell!r} is not replayed")
        script = to_string(substitute(step["run"], ctx, status))
        step_env = {k: to_string(substitute(v, ctx, status)) for k, v in (step.get("env") or {}).items()}
        workdir = step.get("working-directory") or defaults.get("working-directory") or "."
        cwd = (self.workspace / to_string(substitute(workdir, ctx, status))).resolve()
        files = {}
        for var in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY", "GITHUB_PATH", "GITHUB_STATE"):
            p = runner_temp / f"{job}-{index}-{var.lower()}"
            p.write_text("", encoding="utf-8")
            files[var] = p
        script_path = runner_temp / f"{job}-{index}.sh"
        script_path.write_text(script, encoding="utf-8")
        proc_env = {**base_env, **env, **step_env, **{k: str(v) for k, v in files.items()}, "GITHUB_JOB": job,
                    "GITHUB_ACTION": sid or f"__run_{index}", "GITHUB_ACTION_PATH": str(self.workspace)}
        if path_additions:
            proc_env["PATH"] = os.pathsep.join([*reversed(path_additions), proc_env.get("PATH", "")])
        if self.before_step is not None:
            self.before_step(job, sid, self.workspace, proc_env)
        cmd = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_path)] if shell == "bash" else ["sh", "-e", str(script_path)]
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=cwd, env=proc_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=float(step.get("timeout-minutes", 0)) * 60 or self.step_timeout_s)
            code, log = proc.returncode, proc.stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as exc:
            code, log = 124, (exc.stdout or b"").decode("utf-8", "replace") + "\n[replay] step timed out"
        seconds = time.monotonic() - started
        outputs = parse_env_file(files["GITHUB_OUTPUT"].read_text(encoding="utf-8"), "GITHUB_OUTPUT")
        env.update(parse_env_file(files["GITHUB_ENV"].read_text(encoding="utf-8"), "GITHUB_ENV"))
        path_additions.extend(line for line in files["GITHUB_PATH"].read_text(encoding="utf-8").splitlines() if line)
        summary = files["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8")
        outcome = "success" if code == 0 else "failure"
        continue_on_error = truthy(substitute(step.get("continue-on-error", False), ctx, status))
        conclusion = "success" if outcome == "success" or continue_on_error else "failure"
        return StepResult(job, index, label, sid, "run", outcome, conclusion, outputs, code, log, summary, seconds)


# ------------------------------------------------------------------------ composite action


def replay_action(action: str | Path, workspace: str | Path, inputs: Mapping[str, str], *,
                  env: Mapping[str, str] | None = None, repository: str = "acme-ai/alignment-repo") -> JobResult:
    """Replay a composite action's steps as one job with ``inputs`` (defaults filled in).

    The action's outputs are evaluated from its ``outputs.*.value`` after the steps."""
    spec = _load_yaml(Path(action))
    runs = spec.get("runs") or {}
    if runs.get("using") != "composite":
        raise ReplayError(f"{action}: only composite actions are replayed")
    declared = spec.get("inputs") or {}
    unknown = set(inputs) - set(declared)
    if unknown:
        raise ReplayError(f"{action}: unknown input(s) {sorted(unknown)}")
    values = {name: str(inputs.get(name, (d or {}).get("default", ""))) for name, d in declared.items()}
    for step in runs.get("steps") or []:
        if "run" in step and not step.get("shell"):
            raise ReplayError(f"{action}: composite run steps need `shell:` (step {step.get('name') or step.get('id')})")
    workflow = {
        "name": spec.get("name", "action"),
        "on": ["workflow_dispatch"],
        "jobs": {"action": {"steps": runs.get("steps") or [],
                            "outputs": {k: (v or {}).get("value", "") for k, v in (spec.get("outputs") or {}).items()}}},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False, encoding="utf-8") as fh:
        yaml.safe_dump(workflow, fh, sort_keys=False)
        tmp = Path(fh.name)
    try:
        replay = WorkflowReplay(tmp, workspace, env=env, repository=repository).run("workflow_dispatch", {}, inputs=values)
    finally:
        tmp.unlink(missing_ok=True)
    return replay["action"]


def action_as_workflow(action: str | Path) -> str:
    """The composite action's steps as a reusable workflow, so actionlint can check them
    (actionlint checks workflows; an action's steps are workflow steps with ``inputs``)."""
    spec = _load_yaml(Path(action))
    inputs = {
        name: {"type": "string", "required": bool((d or {}).get("required", False)),
               **({"default": str(d["default"])} if d and "default" in d else {})}
        for name, d in (spec.get("inputs") or {}).items()
    }
    workflow = {
        "name": f"action {spec.get('name', '')}",
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": (spec.get("runs") or {}).get("steps") or []}},
    }
    return yaml.safe_dump(workflow, sort_keys=False, width=1000)
