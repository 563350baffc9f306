"""The retrain trigger: enough new merged labels (or a schedule) -> a PR bumping the snapshot.

Merged labels are the rows of the batch manifests under ``datasets_manifest/batches``.
The labels already scheduled or used for training are those of the batches named in
the state file (``retrain.state_file``, written by the previous retrain pull request) and
in the latest training run record in the artifact store (``runs`` records). When the rows
of the other batches reach ``retrain.min_new_labels`` (default 10,000), or a scheduled
run finds any new labels, :func:`open_retrain_pr` opens (or finds) a pull request through
:mod:`alignment_ci.forge` that

* sets ``training.dataset.snapshot`` in alignment.yaml to the new dataset snapshot (the
  text is edited in place: comments and layout stay), and
* writes the state file listing the snapshot's batches,

so that merging it trains on the new labels (``alignment-pr.yml`` runs on the PR).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from ..config import parse_config
from ..config import Config
from ..data.manifest import iter_manifests, snapshot
from ..errors import InputError
from ..textsafety import escape_markdown
from .settings import RetrainSettings

RUNS_KIND = "runs"
"""Record kind of training runs (``alignment_ci.train.runs.RUNS_KIND``; not imported: monitor sits below train)."""


@dataclass
class RetrainDecision:
    due: bool
    reason: str
    trigger: str
    new_labels: int
    threshold: int
    new_batches: list[dict[str, Any]] = field(default_factory=list)
    snapshot: str = ""
    current_snapshot: str = "latest"
    batches: list[dict[str, Any]] = field(default_factory=list)
    last_run: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("batches")
        return data


def _state(config: Config, settings: RetrainSettings) -> dict[str, Any]:
    path = config.resolve(settings.state_file)
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable retrain state ({exc}); fix or delete it") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: the retrain state must be a mapping")
    return data


def latest_run(store: Any) -> dict[str, Any] | None:
    """The most recently finished training run record, or None."""
    if store is None:
        return None
    best = None
    for key in store.list_records(RUNS_KIND):
        record = store.get_record(RUNS_KIND, key) or {}
        if best is None or str(record.get("finished_at") or "") > str(best.get("finished_at") or ""):
            best = record
    return best


def retrain_check(config: Config, *, store: Any = None, schedule: bool = False, settings: RetrainSettings | None = None) -> RetrainDecision:
    """Is a retrain due? Counts merged label rows of batches not yet in a training snapshot."""

    settings = settings or RetrainSettings()
    manifests = [data for _, data in iter_manifests(config) if isinstance(data.get("sha256"), str)]
    state = _state(config, settings)
    trained = {b.get("batch_id") for b in state.get("batches") or [] if isinstance(b, dict)}
    run = latest_run(store)
    if run:
        trained |= set(run.get("batch_ids") or [])
    new = [
        {"batch_id": m["batch_id"], "vendor": m.get("vendor"), "rows": int(m.get("rows") or 0), "sha256": m["sha256"]}
        for m in sorted(manifests, key=lambda m: str(m.get("batch_id")))
        if m.get("batch_id") not in trained
    ]
    new_labels = sum(b["rows"] for b in new)
    snap = snapshot(config)
    threshold = settings.min_new_labels
    if new_labels >= threshold:
        due, trigger = True, "count"
        reason = f"{new_labels} merged labels since the last training snapshot (threshold {threshold})"
    elif schedule and new_labels > 0:
        due, trigger = True, "schedule"
        reason = f"scheduled retrain with {new_labels} new merged labels (below the threshold {threshold})"
    else:
        due, trigger = False, "none"
        reason = f"{new_labels} new merged labels, below the threshold {threshold}" + (" (scheduled run: nothing new)" if schedule else "")
    batches = [{"batch_id": m["batch_id"], "vendor": m.get("vendor"), "rows": int(m.get("rows") or 0), "sha256": m["sha256"]}
               for m in sorted(manifests, key=lambda m: str(m.get("batch_id")))]
    return RetrainDecision(due=due, reason=reason, trigger=trigger, new_labels=new_labels, threshold=threshold,
                           new_batches=new, snapshot=snap["snapshot"], current_snapshot=config.training.dataset.snapshot,
                           batches=batches, last_run=(run or {}).get("run_key"))


def _child(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def _insert_before_first_key(text: str, node: yaml.MappingNode, block: list[str]) -> str:
    first_key = node.value[0][0]
    indent = " " * first_key.start_mark.column
    lines = text.splitlines(keepends=True)
    at = first_key.start_mark.line
    lines[at:at] = [indent + line + "\n" for line in block]
    return "".join(lines)


def set_training_snapshot(text: str, snapshot: str, source: str = "alignment.yaml") -> str:
    """``text`` with ``training.dataset.snapshot`` set to ``snapshot``; everything else untouched."""
    value = f'"{snapshot}"'  # quoted: an all-digit hash would otherwise read as a number
    node = yaml.compose(text, Loader=yaml.SafeLoader) if text.strip() else None
    if node is None:
        return text + ("" if not text or text.endswith("\n") else "\n") + f"training:\n  dataset:\n    snapshot: {value}\n"
    if not isinstance(node, yaml.MappingNode):
        raise InputError(f"{source}: the top level is not a mapping; cannot set training.dataset.snapshot")
    training = _child(node, "training")
    if training is None:
        return text + ("" if text.endswith("\n") else "\n") + f"training:\n  dataset:\n    snapshot: {value}\n"
    if not isinstance(training, yaml.MappingNode) or training.flow_style or not training.value:
        raise InputError(f"{source}:{training.start_mark.line + 1}: `training` is not a block mapping; set training.dataset.snapshot by hand")
    dataset = _child(training, "dataset")
    if dataset is None:
        return _insert_before_first_key(text, training, ["dataset:", f"  snapshot: {value}"])
    if not isinstance(dataset, yaml.MappingNode) or dataset.flow_style or not dataset.value:
        raise InputError(f"{source}:{dataset.start_mark.line + 1}: `training.dataset` is not a block mapping; set the snapshot by hand")
    current = _child(dataset, "snapshot")
    if current is None:
        return _insert_before_first_key(text, dataset, [f"snapshot: {value}"])
    if not isinstance(current, yaml.ScalarNode):
        raise InputError(f"{source}:{current.start_mark.line + 1}: training.dataset.snapshot is not a scalar")
    return text[: current.start_mark.index] + value + text[current.end_mark.index :]


def _body(decision: RetrainDecision) -> str:
    lines = [
        "## Retrain: new dataset snapshot",
        "",
        f"Trigger: **{decision.trigger}** — {escape_markdown(decision.reason, 300)}.",
        "",
        f"Snapshot `{decision.current_snapshot[:16]}` → `{decision.snapshot[:16]}` "
        f"({len(decision.batches)} batches; {len(decision.new_batches)} new, {decision.new_labels} new labels).",
        "",
        "| new batch | vendor | labels |",
        "| --- | --- | ---: |",
    ]
    for b in decision.new_batches[:100]:
        lines.append(f"| {escape_markdown(str(b['batch_id']), 128)} | {escape_markdown(str(b.get('vendor') or ''), 64)} | {b['rows']} |")
    if len(decision.new_batches) > 100:
        lines.append(f"| … {len(decision.new_batches) - 100} more | | |")
    lines += ["", "Merging this pull request pins `training.dataset.snapshot`; the alignment workflow trains and gates the candidate."]
    return "\n".join(lines) + "\n"


def open_retrain_pr(
    config: Config,
    decision: RetrainDecision,
    forge: Any,
    *,
    config_path: str | Path = "alignment.yaml",
    settings: RetrainSettings | None = None,
    now: datetime | None = None,
) -> Any:
    """Open (or find) the pull request that bumps the snapshot; returns the forge's PullRequestRef."""
    settings = settings or RetrainSettings()
    if not decision.due:
        raise InputError(f"no retrain is due: {decision.reason}")
    config_file = Path(config_path)
    local = config_file if config_file.is_absolute() else config.resolve(config_file)
    text = local.read_text(encoding="utf-8") if local.exists() else ""
    new_text = set_training_snapshot(text, decision.snapshot, str(config_file))

    if parse_config(new_text, source=str(config_file)).training.dataset.snapshot != decision.snapshot:
        raise InputError(f"{config_file}: could not set training.dataset.snapshot; set it by hand to {decision.snapshot}")
    state = {
        "snapshot": decision.snapshot,
        "previous_snapshot": decision.current_snapshot,
        "labels": sum(b["rows"] for b in decision.batches),
        "new_labels": decision.new_labels,
        "trigger": decision.trigger,
        "created_at": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "batches": decision.batches,
    }
    repo_config = config_file.name if config_file.is_absolute() else config_file.as_posix()
    files = {
        repo_config: new_text.encode("utf-8"),
        settings.state_file: yaml.safe_dump(state, sort_keys=False).encode("utf-8"),
    }
    title = f"Retrain on dataset snapshot {decision.snapshot[:12]} (+{decision.new_labels} labels)"
    return forge.open_pull_request(
        branch=f"{settings.branch_prefix}{decision.snapshot[:12]}",
        base=settings.base_branch,
        title=title,
        body=_body(decision),
        files=files,
    )
