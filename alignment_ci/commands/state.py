"""`alignment-ci state pull|push`: the getting-started store's state on a git branch.

Without a bucket every CI job starts with an empty working store; the rollout's decisions,
the production baseline, the candidate records and the lineage log live on a branch of the
repository (default ``alignment-ci/state``) between jobs. On S3 the bucket keeps them and
both commands do nothing. See :mod:`alignment_ci.store.gitstate`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from ..config import Config
from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..store import open_store, select_backend
from ..store.gitstate import DEFAULT_BRANCH, pull_state, push_state

app = typer.Typer(help="The getting-started store's state (rollouts, baseline, lineage) on a git branch, between CI jobs.",
                  no_args_is_help=True)

RemoteOpt = Annotated[str, typer.Option("--remote", help="The git remote that holds the state branch.")]
BranchOpt = Annotated[str, typer.Option("--branch", help="The state branch.")]


def _on_s3(cfg: Config, format: Format) -> bool:
    backend, why = select_backend(cfg)
    if backend != "s3":
        return False
    emit({"skipped": True, "reason": f"the store is S3 ({why}): the bucket keeps the state"}, format,
         lambda d: out.print(escape(d["reason"])))
    return True


def _render(verb: str):
    def render(data: dict[str, Any]) -> None:
        where = f"{data['remote']} {data['branch']}"
        if verb == "pull":
            head = f" at {data['head'][:12]}" if data["head"] else " (no branch yet: nothing to pull)"
            out.print(f"pulled {data['records']} record(s) from {escape(where)}{head}")
        else:
            what = f"pushed {data['records']} record(s) to" if data["records"] else "nothing new for"
            out.print(f"{what} {escape(where)}" + (f" ({data['head'][:12]})" if data["head"] else ""))
    return render


@app.command("pull")
def pull(remote: RemoteOpt = "origin", branch: BranchOpt = DEFAULT_BRANCH, config: ConfigOpt = None,
         format: FormatOpt = Format.text) -> None:
    """Copy the state branch's records (rollouts, baseline, candidates, lineage) into the working store."""
    cfg = _config(config)
    if _on_s3(cfg, format):
        return
    result = pull_state(open_store(cfg), cfg.root, remote=remote, branch=branch)
    emit(result.to_dict(), format, _render("pull"))


@app.command("push")
def push(remote: RemoteOpt = "origin", branch: BranchOpt = DEFAULT_BRANCH,
         message: Annotated[str, typer.Option("--message", "-m", help="The commit message.")] = "alignment-ci state",
         config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Publish the working store's new records on the state branch (one fast-forward commit; exit 1 on a conflict)."""
    cfg = _config(config)
    if _on_s3(cfg, format):
        return
    result = push_state(open_store(cfg), cfg.root, remote=remote, branch=branch, message=message)
    emit(result.to_dict(), format, _render("push"))
