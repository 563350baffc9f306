"""The staged-rollout controller: one library function per CLI verb.
``start`` → ``step`` (repeatedly, e.g. every few minutes from a workflow) → the rollout
ends ``completed`` (the candidate serves 100%), ``rolled_back`` (automatic) or
``aborted`` (a human). ``promote`` advances a stage by hand (and is how a paused
rollout goes on), ``abort`` sends all traffic back to the baseline, ``status`` reports,
``resume`` finishes what a killed process left half-done.

Each step compares candidate and baseline events with the always-valid tests of
:mod:`.sequential` and decides:

* ``rollback`` – the merged e-value reached ``1/alpha`` (false-rollback rate <= alpha,
  however often steps run), or ``max_failed_checks`` steps failed a check (Flagger);
* ``promote`` – the stage has seen ``min_events`` candidate events and ``min_minutes``,
  and the evidence against the candidate is weak: traffic moves to the next stage;
* ``inconclusive`` – the stage is done but the e-value is at or above
  ``plan.inconclusive_evalue``, or the next stage needs manual approval: the rollout
  pauses for a human (Argo Rollouts' inconclusive). A paused rollout keeps analysing
  and still rolls back on evidence;
* ``continue`` – not enough data yet.

Persistence (the store's write-once records; no record is ever rewritten):

* ``records/rollout/<rollout_id>-<seq:06d>.json`` – decision ``seq`` (0 is ``start``,
  which also holds the plan). The state is the latest decision.
* ``records/rollout-done/<rollout_id>-<seq:06d>.json`` – written once decision ``seq``
  is in the lineage log and, when it changed the weights, applied by the router
  (with ``applied_at``, which starts the stage's analysis window).

Order of work for a decision: write the decision record → append it to the lineage
log → apply the routing table → write the done record. A crash anywhere leaves a
decision without its done record; every verb (and ``resume``) first completes that
decision: it appends the lineage entry unless the log already has it, and re-applies
the table, which the router writes only when it differs from the current one. So a
killed workflow resumes at the same stage, and no decision is applied twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..candidates import resolve_candidate, set_baseline
from ..config import Config
from ..errors import AlignmentCIError, InputError, StoreError
from ..ids import check_id
from ..lineage import LineageLog
from ..store import open_store
from ..store.base import ArtifactStore, WriteConflict
from .events import read_events
from .plan import MetricSpec, RolloutPlan
from .routers import TrafficRouter, make_router
from .sequential import ArmSummary, mean_shift_evalue, merge_evalues, rate_ratio_evalue, rate_ratio_prior
from .words import evidence, pause_reason
from .. import lazy

pd = lazy.module("pandas")

RECORD_KIND = "rollout"
DONE_KIND = "rollout-done"
LINEAGE_KIND = "rollout"
SEQ_WIDTH = 6
TERMINAL = ("completed", "rolled_back", "aborted")
MIN_THRESHOLD_EVENTS = 100
"""A metric's hard threshold is checked once the candidate has this many events."""
SPLIT_Z = 5.0
"""A candidate share this many standard errors above the router's weight is a failed check."""
MAX_EVALUE = 1e300
ROLLOUT_ID_MAX_LEN = 151
_DEPLOYMENT_STATE = {
    "running": "in_progress",
    "paused": "in_progress",
    "completed": "success",
    "rolled_back": "failure",
    "aborted": "inactive",
}


class StateStore(Protocol):
    """What the controller needs of a store: write-once JSON records (the artifact store has these)."""

    def put_record(self, kind: str, key: str, obj: dict[str, Any]) -> bool: ...

    def get_record(self, kind: str, key: str) -> dict[str, Any] | None: ...

    def list_records(self, kind: str) -> list[str]: ...


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise InputError("`now` must be timezone-aware (UTC)")
    return now.astimezone(timezone.utc)


def record_key(rollout_id: str, seq: int) -> str:
    return f"{rollout_id}-{seq:0{SEQ_WIDTH}d}"


def _check_id(rollout_id: str) -> str:
    return check_id(rollout_id, "rollout id", max_len=ROLLOUT_ID_MAX_LEN)


# --------------------------------------------------------------------- state
@dataclass
class Rollout:
    """A rollout as its records describe it."""

    store: StateStore
    rollout_id: str
    records: list[dict[str, Any]]

    @classmethod
    def load(cls, store: StateStore, rollout_id: str) -> "Rollout":
        _check_id(rollout_id)
        prefix = f"{rollout_id}-"
        seqs = sorted(
            int(key[len(prefix) :])
            for key in store.list_records(RECORD_KIND)
            if key.startswith(prefix) and re.fullmatch(rf"\d{{{SEQ_WIDTH}}}", key[len(prefix) :])
        )
        if not seqs:
            raise InputError(f"no rollout {rollout_id!r} in the store; start it with `alignment-ci rollout start`")
        records = []
        for expected, seq in enumerate(seqs):
            if seq != expected:
                raise StoreError(f"rollout {rollout_id}: decision {expected} is missing from the store (found {seq})")
            record = store.get_record(RECORD_KIND, record_key(rollout_id, seq))
            if record is None:
                raise StoreError(f"rollout {rollout_id}: decision {seq} vanished while reading")
            records.append(record)
        return cls(store, rollout_id, records)

    @property
    def start(self) -> dict[str, Any]:
        return self.records[0]

    @property
    def last(self) -> dict[str, Any]:
        return self.records[-1]

    @property
    def plan(self) -> RolloutPlan:
        return RolloutPlan.model_validate(self.start["plan"])

    @property
    def baseline(self) -> str:
        return str(self.start["baseline"])

    @property
    def candidate(self) -> str:
        return str(self.start["candidate"])

    def done(self, seq: int) -> dict[str, Any] | None:
        return self.store.get_record(DONE_KIND, record_key(self.rollout_id, seq))

    def windows(self) -> list[tuple[datetime, float]]:
        """(start, candidate share) of each period with one set of weights in force."""
        out = []
        for record in self.records:
            if record.get("apply"):
                done = self.done(record["seq"])
                if done is not None:
                    out.append((datetime.fromisoformat(done["applied_at"]), record["weights"][self.candidate] / 100.0))
        return out


def _table(rollout: Rollout, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "rollout_id": rollout.rollout_id,
        "baseline": rollout.baseline,
        "candidate": rollout.candidate,
        "weights": record["weights"],
        "seq": record["seq"],
        "stage": record["stage"],
        "status": record["status"],
    }


def _weights(baseline: str, candidate: str, percent: float) -> dict[str, float]:
    return {baseline: round(100.0 - percent, 6), candidate: round(float(percent), 6)}


def _lineage_of(store: StateStore) -> Any:
    return LineageLog(store) if isinstance(store, ArtifactStore) else None


def _lineage_data(rollout: Rollout, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "rollout_id": rollout.rollout_id,
        "seq": record["seq"],
        "action": record["action"],
        "outcome": record["outcome"],
        "status": record["status"],
        "stage": record["stage"],
        "weights": record["weights"],
        "reasons": record["reasons"],
    }


def _complete(rollout: Rollout, router: TrafficRouter, now: datetime) -> dict[str, Any] | None:
    """Finish the latest decision if a crash interrupted it; return its done record."""
    record = rollout.last
    done = rollout.done(record["seq"])
    if done is not None:
        return done
    lineage_hash = None
    log = _lineage_of(rollout.store)
    if log is not None:
        existing = [
            e
            for e in log.entries()
            if e.kind == LINEAGE_KIND
            and e.data.get("rollout_id") == rollout.rollout_id
            and e.data.get("seq") == record["seq"]
        ]
        entry = existing[0] if existing else log.append(
            kind=LINEAGE_KIND, subject=rollout.candidate, inputs=[rollout.baseline], data=_lineage_data(rollout, record)
        )
        lineage_hash = entry.hash
    changed = router.apply(_table(rollout, record)) if record.get("apply") else False
    done = {
        "rollout_id": rollout.rollout_id,
        "seq": record["seq"],
        "applied": bool(record.get("apply")),
        "changed": changed,
        "router": router.describe(),
        "applied_at": now.isoformat(),
        "lineage": lineage_hash,
    }
    if record["status"] == "completed" and log is not None:
        done["baseline"] = _record_baseline(rollout)
    rollout.store.put_record(DONE_KIND, record_key(rollout.rollout_id, record["seq"]), done)
    return done


def _record_baseline(rollout: Rollout) -> dict[str, Any]:
    """A completed rollout's candidate (the candidate record holding its model version) becomes
    the production baseline the regression gates compare against."""
    try:
        candidate = resolve_candidate(rollout.store, rollout.candidate)  # type: ignore[arg-type]
        record = set_baseline(rollout.store, candidate, set_by="rollout",  # type: ignore[arg-type]
                              reason=f"rollout {rollout.rollout_id} reached 100%", extra={"rollout_id": rollout.rollout_id})
    except AlignmentCIError as exc:
        return {"candidate_id": None, "reason": f"not recorded: {exc}"}
    return {"candidate_id": record["candidate_id"], "seq": record["seq"]}


def _decide(rollout: Rollout, router: TrafficRouter, now: datetime, **fields: Any) -> dict[str, Any]:
    """Write decision seq+1, then complete it (lineage, router, done record)."""

    seq = rollout.last["seq"] + 1
    record = {"rollout_id": rollout.rollout_id, "seq": seq, "decided_at": now.isoformat(), **fields}
    try:
        rollout.store.put_record(RECORD_KIND, record_key(rollout.rollout_id, seq), record)
    except WriteConflict:
        raise StoreError(
            f"rollout {rollout.rollout_id}: another controller wrote decision {seq} at the same time; "
            "run `alignment-ci rollout status` and retry"
        ) from None
    rollout.records.append(record)
    _complete(rollout, router, now)
    return record


# ------------------------------------------------------------------ analysis
def _metric_values(events: pd.DataFrame, metric: MetricSpec) -> pd.Series | None:
    if metric.field not in events.columns:
        return None
    col = events[metric.field]
    if metric.kind == "boolean":
        return col.fillna(False).astype(bool)
    return pd.to_numeric(col, errors="coerce")


def analyze(
    events: pd.DataFrame,
    plan: RolloutPlan,
    baseline: str,
    candidate: str,
    windows: Sequence[tuple[datetime, float]],
    now: datetime,
) -> dict[str, Any]:
    """Compare candidate and baseline events since the rollout started.

    ``windows``: (start, candidate share) of each period of constant weights, in time
    order; events before the first start or after ``now`` are ignored. Returns per-metric
    statistics and e-values, the merged e-value, the candidate events of the current
    window, and the reasons a check failed (empty when none did).
    """
    failures: list[str] = []
    if not windows:
        return {"evalue": 1.0, "metrics": {}, "stage_candidate_events": 0, "failures": ["no routing applied yet"]}
    starts = pd.DatetimeIndex([w[0] for w in windows]).tz_convert("UTC")
    shares = np.array([w[1] for w in windows], dtype=float)
    ts = events["timestamp"] if len(events) else pd.Series([], dtype="datetime64[ns, UTC]")
    in_time = (ts >= starts[0]) & (ts <= pd.Timestamp(now))
    ours = events["model_version"].isin([baseline, candidate])
    # events of other model versions in the rollout's time: said when the rollout sees none of its own
    unmatched = events.loc[in_time & ~ours, "model_version"].astype(str).value_counts()
    events = events.loc[in_time & ours]
    event_ns = pd.DatetimeIndex(events["timestamp"]).as_unit("ns").asi8
    window = np.searchsorted(starts.as_unit("ns").asi8, event_ns, side="right") - 1
    is_cand = (events["model_version"] == candidate).to_numpy()
    in_last = window == len(windows) - 1
    n_cand_stage = int((is_cand & in_last).sum())
    n_stage = int(in_last.sum())
    share_now = shares[-1]
    if 0 < share_now < 1 and n_stage >= 200:
        observed = n_cand_stage / n_stage
        z = (observed - share_now) / np.sqrt(share_now * (1 - share_now) / n_stage)
        if z > SPLIT_Z:
            failures.append(
                f"traffic split: the candidate served {observed:.1%} of this stage's {n_stage} events but its "
                f"weight is {share_now:.1%}; the serving layer does not follow the router"
            )
    metrics: dict[str, Any] = {}
    for metric in plan.metrics:
        values = _metric_values(events, metric)
        if values is None:
            metrics[metric.name] = {"evalue": 1.0, "candidate_n": 0, "baseline_n": 0, "candidate": None, "baseline": None}
            if len(events):
                failures.append(f"metric {metric.name}: field {metric.field!r} is in none of the events")
            continue
        v = values.to_numpy()
        if metric.kind == "boolean":
            bad = ~v if metric.direction == "higher" else v
            k = len(windows)
            cand_bad = np.bincount(window[is_cand & bad], minlength=k)
            base_bad = np.bincount(window[~is_cand & bad], minlength=k)
            prior = rate_ratio_prior(metric.margin, metric.effect, plan.prior_width)
            e = rate_ratio_evalue(cand_bad, base_bad, shares, metric.margin, prior)
            n_c, n_b = int(is_cand.sum()), int((~is_cand).sum())
            value_c = float(v[is_cand].mean()) if n_c else None
            value_b = float(v[~is_cand].mean()) if n_b else None
        else:
            finite = ~np.isnan(v)
            cand = ArmSummary.of(v[is_cand & finite])
            base = ArmSummary.of(v[~is_cand & finite])
            e = mean_shift_evalue(cand, base, metric.direction, metric.margin, metric.effect)
            n_c, n_b = cand.n, base.n
            value_c = cand.mean if n_c else None
            value_b = base.mean if n_b else None
        e = float(min(e, MAX_EVALUE))
        metrics[metric.name] = {
            "evalue": e,
            "candidate_n": n_c,
            "baseline_n": n_b,
            "candidate": value_c,
            "baseline": value_b,
        }
        if metric.threshold is not None and value_c is not None and n_c >= MIN_THRESHOLD_EVENTS:
            over = value_c > metric.threshold if metric.direction == "lower" else value_c < metric.threshold
            if over:
                failures.append(
                    f"metric {metric.name}: candidate value {value_c:.4g} is "
                    f"{'above' if metric.direction == 'lower' else 'below'} its threshold {metric.threshold:g}"
                )
    merged = merge_evalues([m["evalue"] for m in metrics.values()])
    return {
        "evalue": float(min(merged, MAX_EVALUE)),
        "metrics": metrics,
        "stage_candidate_events": n_cand_stage,
        "failures": failures,
        "events_of_other_versions": {str(k): int(v) for k, v in unmatched.head(3).items()} if len(events) == 0 else {},
    }


# ---------------------------------------------------------------- the verbs
def _router_for(rollout: Rollout, router: TrafficRouter | None) -> TrafficRouter:
    return router if router is not None else make_router(rollout.plan.router)


def _status(rollout: Rollout, router: TrafficRouter) -> dict[str, Any]:
    last = rollout.last
    plan = rollout.plan
    analysis = next((r["analysis"] for r in reversed(rollout.records) if r.get("analysis")), None)
    done = rollout.done(last["seq"])
    return {
        "rollout_id": rollout.rollout_id,
        "baseline": rollout.baseline,
        "candidate": rollout.candidate,
        "status": last["status"],
        "deployment_state": _DEPLOYMENT_STATE[last["status"]],
        "stage": last["stage"],
        "stages": [s.percent for s in plan.stages],
        "percent": last["weights"][rollout.candidate],
        "weights": last["weights"],
        "failed_checks": last["failed_checks"],
        "seq": last["seq"],
        "decision": {
            k: last[k] for k in ("seq", "action", "outcome", "reasons", "decided_at", "actor") if k in last
        },
        "complete": done is not None,
        "pause_reason": pause_reason(last, plan),
        "analysis": analysis,
        "evidence": evidence(analysis, plan),
        "rollback_evalue": plan.rollback_evalue,
        "router": router.describe(),
        "history": [
            {"seq": r["seq"], "action": r["action"], "outcome": r["outcome"], "stage": r["stage"], "status": r["status"]}
            for r in rollout.records
        ],
    }


def start(
    store: StateStore,
    rollout_id: str,
    baseline: str,
    candidate: str,
    plan: RolloutPlan | None = None,
    *,
    router: TrafficRouter | None = None,
    actor: str = "alignment-ci",
    now: datetime | None = None,
    force: bool = False,
    reason: str = "",
) -> dict[str, Any]:
    """Start a rollout: record decision 0 with the plan and send the first stage's share to the candidate.

    Starting again with the same arguments and time is a no-op (the record is identical);
    a different start under an existing id is refused. A candidate that an earlier rollout
    rolled back is refused unless ``force`` with a ``reason``, which decision 0 records.
    """
    _check_id(rollout_id)
    if not baseline or not candidate or baseline == candidate:
        raise InputError("a rollout needs two different model versions: --baseline and --candidate")
    plan = plan or RolloutPlan()
    now_ = _now(now)
    previous = rolled_back_rollouts(store, candidate, exclude=rollout_id)
    forced: dict[str, Any] | None = None
    if previous:
        last = previous[-1]
        said = "; ".join(last.get("reasons") or []) or "no reason recorded"
        if not force:
            raise InputError(
                f"candidate {candidate} was rolled back by rollout {last['rollout_id']} at {last['decided_at']} "
                f"({said}). Starting it again needs --force --reason 'why it is safe now' (recorded)"
            )
        if not reason.strip():
            raise InputError("--force needs --reason: say why the rolled-back candidate may go out again (it is recorded)")
        forced = {"reason": reason.strip(), "rolled_back_by": [p["rollout_id"] for p in previous], "actor": actor}
    first = plan.stages[0]
    record = {
        "rollout_id": rollout_id,
        "seq": 0,
        "action": "start",
        "outcome": "start",
        "status": "completed" if first.percent >= 100 else "running",
        "stage": 0,
        "weights": _weights(baseline, candidate, first.percent),
        "apply": True,
        "failed_checks": 0,
        "reasons": [f"start at {first.percent:g}%"] + (
            [f"restarted by {actor} although rollout(s) {', '.join(forced['rolled_back_by'])} rolled this candidate "
             f"back: {forced['reason']}"] if forced else []),
        "analysis": None,
        "actor": actor,
        "decided_at": now_.isoformat(),
        "baseline": baseline,
        "candidate": candidate,
        "plan": plan.model_dump(mode="json"),
    }
    if forced:
        record["forced"] = forced

    try:
        store.put_record(RECORD_KIND, record_key(rollout_id, 0), record)
    except WriteConflict:
        raise InputError(
            f"rollout {rollout_id!r} already exists with another start; pick a new id or use `rollout status`"
        ) from None
    rollout = Rollout.load(store, rollout_id)
    router_ = _router_for(rollout, router)
    _complete(rollout, router_, now_)
    return _status(rollout, router_)


def rolled_back_rollouts(store: StateStore, candidate: str, *, exclude: str | None = None) -> list[dict[str, Any]]:
    """The last decision of every rollout of ``candidate`` that ended rolled back, oldest first."""
    ids = sorted({key.rsplit("-", 1)[0] for key in store.list_records(RECORD_KIND)
                  if re.fullmatch(rf".+-\d{{{SEQ_WIDTH}}}", key)})
    found = []
    for rid in ids:
        if rid == exclude:
            continue
        first = store.get_record(RECORD_KIND, record_key(rid, 0))
        if not first or first.get("candidate") != candidate:
            continue
        last = Rollout.load(store, rid).last
        if last.get("status") == "rolled_back":
            found.append(last)
    return sorted(found, key=lambda r: r.get("decided_at", ""))


def _loaded(store: StateStore, rollout_id: str, router: TrafficRouter | None, now: datetime) -> tuple[Rollout, TrafficRouter]:
    rollout = Rollout.load(store, rollout_id)
    router_ = _router_for(rollout, router)
    _complete(rollout, router_, now)
    return rollout, router_


def resume(
    store: StateStore, rollout_id: str, *, router: TrafficRouter | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Complete a decision a crash left half-done (lineage entry, routing table); report the state."""
    now_ = _now(now)
    rollout = Rollout.load(store, rollout_id)
    router_ = _router_for(rollout, router)
    was_pending = rollout.done(rollout.last["seq"]) is None
    _complete(rollout, router_, now_)
    return {**_status(rollout, router_), "resumed": was_pending}


def status(store: StateStore, rollout_id: str, *, router: TrafficRouter | None = None) -> dict[str, Any]:
    """The rollout's state, last decision, last analysis and history (reads only)."""
    rollout = Rollout.load(store, rollout_id)
    return _status(rollout, _router_for(rollout, router))


def step(
    store: StateStore,
    rollout_id: str,
    events: str | Path | Sequence[str | Path],
    *,
    router: TrafficRouter | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Analyse the events so far and decide: promote, continue, rollback or inconclusive.

    Without ``now``, the decision time is the clock or, when later, the newest event's
    timestamp: traffic from ``rollout simulate`` runs ahead of the clock, and a step over
    it sees all of it (production events are never in the future, so there it is the clock).
    """
    try:
        frame = read_events(events, store=store)
        events_error = None
    except InputError as exc:
        frame, events_error = None, exc
    if now is None and frame is not None and len(frame):
        newest = pd.Timestamp(frame["timestamp"].max()).to_pydatetime()
        now = max(_now(None), newest)
    now_ = _now(now)
    rollout, router_ = _loaded(store, rollout_id, router, now_)
    last = rollout.last
    if last["status"] in TERMINAL:
        return {**_status(rollout, router_), "outcome": None, "message": f"rollout is {last['status']}; nothing to do"}
    plan = rollout.plan
    windows = rollout.windows()
    if frame is None:
        analysis: dict[str, Any] = {"evalue": 1.0, "metrics": {}, "stage_candidate_events": 0,
                                    "failures": [f"events: {events_error}"]}
    else:
        analysis = analyze(frame, plan, rollout.baseline, rollout.candidate, windows, now_)
    failed_checks = last["failed_checks"] + (1 if analysis["failures"] else 0)
    stage_idx = last["stage"]
    stage = plan.stages[stage_idx]
    stage_minutes = (now_ - windows[-1][0]).total_seconds() / 60.0 if windows else 0.0
    reasons: list[str] = list(analysis["failures"])
    e = analysis["evalue"]
    worst = max(analysis["metrics"].items(), key=lambda kv: kv[1]["evalue"], default=(None, None))[0]
    said = {row["metric"]: row["sentence"] for row in evidence(analysis, plan)}
    fields: dict[str, Any] = {"action": "step", "analysis": analysis, "failed_checks": failed_checks, "actor": "controller"}
    if e >= plan.rollback_evalue:
        outcome, status_, new_stage, percent = "rollback", "rolled_back", stage_idx, 0.0
        reasons.append(f"e-value {e:.3g} >= 1/alpha = {plan.rollback_evalue:g}; strongest evidence: "
                       f"{said.get(worst, worst)}")
    elif failed_checks >= plan.max_failed_checks:
        outcome, status_, new_stage, percent = "rollback", "rolled_back", stage_idx, 0.0
        reasons.append(f"{failed_checks} failed checks reached max_failed_checks = {plan.max_failed_checks}")
    elif last["status"] == "paused":
        outcome, status_, new_stage, percent = "inconclusive", "paused", stage_idx, stage.percent
        fields["pause_reason"] = pause_reason(last, plan)
        reasons.append(f"paused ({fields['pause_reason']}): waiting for `alignment-ci rollout promote "
                       f"{rollout_id}` or `abort`")
    elif analysis["stage_candidate_events"] >= stage.min_events and stage_minutes >= stage.min_minutes:
        nxt = plan.stages[stage_idx + 1]
        if e >= plan.inconclusive_evalue:
            outcome, status_, new_stage, percent = "inconclusive", "paused", stage_idx, stage.percent
            fields["pause_reason"] = "evidence inconclusive"
            reasons.append(
                f"evidence inconclusive: stage done but e-value {e:.3g} >= {plan.inconclusive_evalue:.3g} "
                f"({said.get(worst, worst)}): a human decides"
            )
        elif nxt.manual_approval:
            outcome, status_, new_stage, percent = "inconclusive", "paused", stage_idx, stage.percent
            fields["pause_reason"] = f"awaiting approval for {nxt.percent:g}%"
            reasons.append(f"stage {stage.percent:g}% passed; awaiting approval for {nxt.percent:g}%: entering "
                           f"{nxt.percent:g}% needs manual approval (`alignment-ci rollout promote {rollout_id}`)")
        else:
            outcome, new_stage, percent = "promote", stage_idx + 1, nxt.percent
            status_ = "completed" if nxt.percent >= 100 else "running"
            reasons.append(
                f"stage {stage.percent:g}% passed ({analysis['stage_candidate_events']} candidate events, "
                f"{stage_minutes:.0f} min, e-value {e:.3g}); to {nxt.percent:g}%"
            )
    else:
        outcome, status_, new_stage, percent = "continue", "running", stage_idx, stage.percent
        reasons.append(
            f"stage {stage.percent:g}%: {analysis['stage_candidate_events']}/{stage.min_events} candidate events, "
            f"{stage_minutes:.0f}/{stage.min_minutes:g} min, e-value {e:.3g}"
        )
        others = analysis.get("events_of_other_versions") or {}
        if others:
            reasons.append(
                f"no event since the start is from {rollout.baseline} or {rollout.candidate}, but the events name "
                + ", ".join(f"{v} ({n})" for v, n in others.items())
                + ": the events' model_version must be the rollout's --baseline and --candidate "
                "(`rollout simulate --baseline V --candidate V`)"
            )
    weights = _weights(rollout.baseline, rollout.candidate, percent)
    _decide(
        rollout,
        router_,
        now_,
        outcome=outcome,
        status=status_,
        stage=new_stage,
        weights=weights,
        apply=weights != last["weights"],
        reasons=reasons,
        **fields,
    )
    return {**_status(rollout, router_), "outcome": outcome}


def promote(
    store: StateStore,
    rollout_id: str,
    *,
    router: TrafficRouter | None = None,
    actor: str = "human",
    reason: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """A human moves the rollout to its next stage (also un-pauses it)."""
    now_ = _now(now)
    rollout, router_ = _loaded(store, rollout_id, router, now_)
    last = rollout.last
    if last["status"] in TERMINAL:
        raise InputError(f"rollout {rollout_id} is {last['status']}; it cannot be promoted")
    plan = rollout.plan
    nxt = plan.stages[last["stage"] + 1]
    _decide(
        rollout,
        router_,
        now_,
        action="promote",
        outcome="promote",
        status="completed" if nxt.percent >= 100 else "running",
        stage=last["stage"] + 1,
        weights=_weights(rollout.baseline, rollout.candidate, nxt.percent),
        apply=True,
        failed_checks=last["failed_checks"],
        reasons=[f"promoted by {actor} to {nxt.percent:g}%" + (f": {reason}" if reason else "")],
        analysis=None,
        actor=actor,
    )
    return {**_status(rollout, router_), "outcome": "promote"}


def abort(
    store: StateStore,
    rollout_id: str,
    *,
    router: TrafficRouter | None = None,
    actor: str = "human",
    reason: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Send all traffic back to the baseline. Aborting a finished rollout changes nothing."""
    now_ = _now(now)
    rollout, router_ = _loaded(store, rollout_id, router, now_)
    last = rollout.last
    if last["status"] in TERMINAL:
        return {**_status(rollout, router_), "outcome": None, "message": f"rollout is already {last['status']}"}
    _decide(
        rollout,
        router_,
        now_,
        action="abort",
        outcome="rollback",
        status="aborted",
        stage=last["stage"],
        weights=_weights(rollout.baseline, rollout.candidate, 0.0),
        apply=True,
        failed_checks=last["failed_checks"],
        reasons=[f"aborted by {actor}" + (f": {reason}" if reason else "")],
        analysis=None,
        actor=actor,
    )
    return {**_status(rollout, router_), "outcome": "rollback"}


def open_rollout_store(config: Config) -> StateStore:
    """The configured artifact store (where rollout state lives)."""

    return open_store(config)
