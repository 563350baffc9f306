"""Gather what the PR report shows into a :class:`~alignment_ci.report.ReportData`.

The report package renders what it is handed and imports no pipeline stage; this module
is the collector that reads the pipeline's outputs (above the stages in the layering):

* gate results: ``<outputs>/gates/gates.json`` as the gating plugin writes it
  (``{verdict, inconclusive_blocks, errors, candidate: {run_key, ...}, baseline: {...},
  data: {...}, gates: [{gate, outcome, blocking, reason, value, threshold, interval, n,
  details}]}``), or a bare list of gate results;
* evaluation data for the charts: the calibration gate's ``details.bins``, the regression
  gate's per-slice results (``regression/<slice>``: win rate, n, lower bound), and, when
  present, ``reward_scores`` and ``examples`` from the results' ``data`` or from
  ``<outputs>/gates/evals.json`` (``{reward_scores, calibration, win_rates, examples}``;
  shapes in :mod:`alignment_ci.report.data`), which overrides what the gates gave;
* run records from the store (``train.runs``), by run key, key prefix, artifact hash or
  a JSON file; by default the gate results' candidate/baseline, else the newest run;
* label batches given as files: validated and summarised (``label_health``); otherwise
  the manifests of the run's dataset snapshot give the validation table;
* lineage (snapshot, run keys, artifact hashes, batch hashes) and the cost of the run
  from the config's prices.

A part that is missing renders as "not run"; nothing here fails because a stage did not run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import Config
from ..data.manifest import iter_manifests, snapshot as dataset_snapshot
from ..data.manifest import find_batch
from ..data.readers import read_batch
from ..data.validate import validate_file
from ..errors import AlignmentCIError, InputError
from ..evals.critics import read_scores
from ..forge import open_forge
from ..forge.actions import actions_context
from ..monitor.cost import annotation_cost, gpu_cost, run_gpu_usage
from ..monitor.sla import batch_sla_record, vendor_sla
from ..quality.health import label_health
from ..store import open_store
from ..train.runs import find_run, git_commit, latest_run
from .data import ReportData, verdict_of
from .output import write_report
from .publish import publish_report

RUN_STAGES_NEWEST_FIRST = ("ppo", "rloo", "grpo", "dpo", "sft", "reward")


def outputs_dir(config: Config) -> Path:
    return config.resolve(config.paths.outputs)


GATE_RESULT_NAMES = ("gates.json", "results.json")


def default_gate_results(config: Config) -> Path:
    """``<outputs>/gates/gates.json`` (the gating plugin's default), else ``results.json`` if that exists."""
    gates_dir = outputs_dir(config) / "gates"
    return next((gates_dir / n for n in GATE_RESULT_NAMES if (gates_dir / n).exists()), gates_dir / GATE_RESULT_NAMES[0])


def default_evals(config: Config) -> Path:
    return outputs_dir(config) / "gates" / "evals.json"


def default_report_dir(config: Config) -> Path:
    return outputs_dir(config) / "report"


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: {what} is not valid JSON ({exc}); rerun the step that writes it") from None


def load_gate_results(path: Path | None) -> tuple[list[dict[str, Any]] | None, dict[str, Any]]:
    """``(gates, meta)`` from a results file; ``(None, {})`` when the file does not exist."""
    if path is None or not Path(path).exists():
        return None, {}
    doc = _read_json(Path(path), "the gate results file")
    if isinstance(doc, list):
        gates, meta = doc, {}
    elif isinstance(doc, dict) and isinstance(doc.get("gates", doc.get("results")), list):
        gates = doc.get("gates", doc.get("results"))
        meta = {k: v for k, v in doc.items() if k not in ("gates", "results")}
    else:
        raise InputError(f"{path}: expected a list of gate results or {{\"gates\": [...]}}")
    bad = [i for i, g in enumerate(gates) if not isinstance(g, dict) or "gate" not in g or "outcome" not in g]
    if bad:
        raise InputError(f"{path}: gate result #{bad[0] + 1} needs at least 'gate' and 'outcome'")
    return gates, meta


def load_evals(path: Path | None) -> dict[str, Any]:
    if path is None or not Path(path).exists():
        return {}
    doc = _read_json(Path(path), "the eval data file")
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected an object with reward_scores, calibration, win_rates, examples")
    return doc


def _evals_from_gates(gates: list[dict[str, Any]] | None, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Chart data the gates already computed: calibration bins, per-slice win rates (and
    ``reward_scores``/``examples`` when the gate run put them in its ``data``)."""
    found: dict[str, Any] = {k: v for k, v in (data or {}).items() if k in ("reward_scores", "calibration", "win_rates", "examples")}
    wins = []
    for g in gates or []:
        details = g.get("details") or {}
        if not isinstance(details, dict):
            continue
        if isinstance(details.get("bins"), list) and "calibration" not in found:
            found["calibration"] = details["bins"]
        if isinstance(details.get("slices"), list) and "win_rates" not in found:
            found["win_rates"] = details["slices"]
        if isinstance(details.get("examples"), list) and "examples" not in found:
            found["examples"] = details["examples"]  # the policy_winrate gate's side-by-side answers
        name = str(g.get("gate", ""))
        if name.startswith(("regression/", "policy_winrate/independent/")) and details.get("win_rate") is not None:
            lower = details.get("lower_bound")
            wins.append({"slice": details.get("slice") or name.rsplit("/", 1)[1], "win_rate": details["win_rate"],
                         "n": details.get("n", g.get("n")), "interval": [lower, 1.0] if lower is not None else None})
    if wins and "win_rates" not in found:
        found["win_rates"] = wins
    return found


def resolve_run(config: Config, ref: Any, store: Any = None) -> dict[str, Any] | None:
    """A run record from a dict, a JSON file, or a run key / prefix / artifact hash in the store."""
    if ref is None or ref == "":
        return None
    if isinstance(ref, dict):
        if "metrics" in ref:  # a run record
            return ref
        # a reference, as gates.json describes a side: {run_key, artifact, source, ...}
        return resolve_run(config, ref["run_key"], store) if ref.get("run_key") else None
    text = str(ref)
    if text.endswith(".json") or os.sep in text:
        path = Path(text)
        if not path.exists():
            raise InputError(f"run record file {path} does not exist")
        record = _read_json(path, "the run record")
        if not isinstance(record, dict):
            raise InputError(f"{path}: a run record is a JSON object")
        return record

    return find_run(config, text, store=store)


def newest_run(config: Config, store: Any = None) -> dict[str, Any] | None:
    """The most recently finished run of any stage, or None."""

    records = [r for r in (latest_run(config, s, store=store) for s in RUN_STAGES_NEWEST_FIRST) if r]
    return max(records, key=lambda r: r.get("finished_at", ""), default=None)


def batch_summaries(
    config: Config, files: Sequence[Path], sla_records: list[dict[str, Any]] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Validate each file and summarise its label health: ``(validation, health)``.

    With ``sla_records``, each accepted batch's SLA record (decisions, rater time,
    agreement, gold) is appended to it, under the vendor its manifest names."""

    vendors = {m.get("batch_id"): m.get("vendor") for m in _manifests(config).values()} if sla_records is not None else {}
    validation, health = [], []
    for file in files:
        report = validate_file(file, config)
        validation.append({**report.to_dict(), "path": str(file)})
        if report.accepted:
            counts: dict[str, int] = {}
            for issue in report.warnings:
                counts[issue.kind] = counts.get(issue.kind, 0) + 1
            df = read_batch(file, default_dimension=config.taxonomy.default_dimension, limits=config.validation.limits)
            health.append(label_health(df, config, warnings=counts, critic_scores=_critic_scores(config, report.batch_id)))
            if sla_records is not None:
                vendor = vendors.get(report.batch_id) or "unknown"
                sla_records.append(batch_sla_record(df, vendor, str(report.batch_id), None, config=config))
    return validation, health


def _critic_scores(config: Config, batch_id: str | None) -> Any:
    """The latest critic scores stored beside an ingested batch (its manifest's ``critic_scores``), or None."""
    import tempfile


    found = find_batch(config, batch_id) if batch_id else None
    entries = (found[1].get("critic_scores") or []) if found else []
    if not entries:
        return None
    with tempfile.TemporaryDirectory(prefix="alignment-ci-critic-") as tmp:
        local = Path(tmp) / "scores.jsonl"
        open_store(config).get_blob_to_path(entries[-1]["sha256"], local)
        return read_scores(local)[0]


def _manifests(config: Config) -> dict[str, dict[str, Any]]:
    return {data["sha256"]: {**data, "_path": str(path)} for path, data in iter_manifests(config) if "sha256" in data}


def _manifest_validation(batches: list[dict[str, Any]], manifests: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for b in batches:
        m = manifests.get(b.get("sha256", ""), {})
        warnings = m.get("warnings") or {}
        rows.append({
            "batch_id": b.get("batch_id") or m.get("batch_id"),
            "path": m.get("_path"),
            "accepted": True,  # a manifest exists only for an accepted batch
            "rows": m.get("rows"),
            "error_count": 0,
            "warning_count": sum(int(v) for v in warnings.values()) if isinstance(warnings, dict) else 0,
        })
    return rows


def _configured(config: Config, section: str) -> bool:
    """True when alignment.yaml sets ``section`` (or code changed it from the built-in defaults)."""
    value = getattr(config, section)
    return section in config.model_fields_set or value.model_dump() != type(value)().model_dump()


def run_cost(config: Config, records: Sequence[dict[str, Any]], batches: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Annotation cost (each merged judgment × the vendor's price per label) plus compute
    (the runs' GPU-hours × price), priced by :mod:`alignment_ci.monitor.cost`."""

    labels, annotation = 0, 0.0
    for b in batches:
        rows = int(b.get("rows") or 0)
        labels += rows
        annotation += annotation_cost(rows, 1, str(b.get("vendor") or "default"), config.cost.price_per_label)["cost"]
    gpu_hours, gpu_usd, kinds = 0.0, 0.0, set()
    for r in records:
        try:
            hours, spec = run_gpu_usage(r)
        except AlignmentCIError:
            continue  # a record without timings costs nothing we can price
        try:
            priced = gpu_cost(hours, spec, config.cost.gpu_hour)
        except AlignmentCIError:
            priced = {"gpu": spec.partition(":")[0], "gpu_hours": hours, "cost": 0.0}  # no price configured for it
        kinds.add(priced["gpu"])
        gpu_hours += priced["gpu_hours"]
        gpu_usd += priced["cost"]
    return {
        "labels": labels,
        "annotation_usd": annotation,
        "gpu_hours": gpu_hours,
        "gpu": ", ".join(sorted(kinds)) or None,
        "gpu_usd": gpu_usd,
        "total_usd": annotation + gpu_usd,
    }


def collect_report_data(
    config: Config,
    *,
    gate_results: Path | None = None,
    evals: Path | None = None,
    batches: Sequence[Path] = (),
    candidate: Any = None,
    baseline: Any = None,
    html_url: str | None = None,
    run_url: str | None = None,
    store: Any = None,
) -> ReportData:
    """Assemble the report's data from the pipeline's outputs (defaults: the conventional paths)."""

    notes: list[str] = []
    gates, meta = load_gate_results(gate_results if gate_results is not None else default_gate_results(config))
    ev = _evals_from_gates(gates, meta.get("data") if isinstance(meta.get("data"), dict) else None)
    ev.update(load_evals(evals if evals is not None else default_evals(config)))

    def from_results(role: str) -> dict[str, Any] | None:
        """The run the gate run judged; a reference that does not resolve becomes a note, not a failure."""
        ref = meta.get(role)
        if not ref:
            return None
        try:
            record = resolve_run(config, ref, store)
        except InputError as exc:
            notes.append(f"{role} of the gate run: {exc}")
            return None
        if record is None and isinstance(ref, dict) and ref.get("source"):
            notes.append(f"{role} of the gate run has no run record: {ref['source']}")
        return record

    cand = resolve_run(config, candidate, store) if candidate is not None else from_results("candidate")
    if cand is None and candidate is None and not meta.get("candidate"):
        try:
            cand = newest_run(config, store)
        except ImportError:  # training not installed in this build
            cand = None
    base = resolve_run(config, baseline, store) if baseline is not None else from_results("baseline")

    manifests = _manifests(config)
    if cand and cand.get("batches"):
        lineage_batches = [dict(b) for b in cand["batches"]]
        snap = cand.get("snapshot")
    else:
        current = dataset_snapshot(config)
        lineage_batches, snap = current["batches"], (current["snapshot"] if current["batches"] else None)
    for b in lineage_batches:
        m = manifests.get(b.get("sha256", ""), {})
        b.setdefault("vendor", m.get("vendor"))
        b["rows"] = m.get("rows", b.get("rows"))

    sla = None
    if batches:
        sla_records: list[dict[str, Any]] = []
        validation, health = batch_summaries(config, batches, sla_records)
        sla = vendor_sla(sla_records, config.sla) if sla_records else None
        if sla is not None:
            sla = {**sla, "configured": _configured(config, "sla")}
    else:
        validation = _manifest_validation(lineage_batches, manifests) if lineage_batches else None
        health = None

    runs = []
    for role, rec in (("candidate", cand), ("baseline", base)):
        if rec:
            runs.append({"role": role, "stage": rec.get("stage"), "run_key": rec.get("run_key"), "artifact": rec.get("artifact")})
            for name, parent in (rec.get("parents") or {}).items():
                runs.append({"role": f"{role} ← {name}", "stage": name, "run_key": parent.get("run_key"), "artifact": parent.get("artifact")})
    lineage = {
        "snapshot": snap,
        "git_commit": (cand or {}).get("git_commit") or git_commit(config.root),
        "runs": runs,
        "batches": [{"batch_id": b.get("batch_id"), "vendor": b.get("vendor"), "sha256": b.get("sha256")} for b in lineage_batches],
    }
    # Labels paid for: the run's batches, else the batches this report was given.
    paid = lineage_batches or [{"rows": v.get("rows"), "vendor": None} for v in validation or [] if v.get("accepted")]
    cost = run_cost(config, [cand] if cand else [], paid) if (cand or paid) else None
    if cost is not None:
        cost["configured"] = _configured(config, "cost") or _configured(config, "cost_model")
    gate_errors = [str(e) for e in meta.get("errors") or []]
    return ReportData(
        project=config.project,
        validation=validation,
        health=health,
        candidate=cand,
        baseline=base,
        gates=gates,
        gate_errors=gate_errors,
        inconclusive_blocks=bool(meta.get("inconclusive_blocks", config.gates.inconclusive_blocks)),
        lineage=lineage,
        cost=cost,
        sla=sla,
        reward_scores=ev.get("reward_scores") or {},
        calibration=ev.get("calibration") or [],
        win_rates=ev.get("win_rates") or [],
        examples=ev.get("examples") or [],
        html_url=html_url,
        run_url=run_url,
        notes=notes,
        first_model=bool((meta.get("baseline") or {}).get("first_model")) and baseline is None,
        candidate_id=(meta.get("candidate") or {}).get("candidate_id"),
    )


def build_report(
    config: Config,
    *,
    out_dir: Path | None = None,
    gate_results: Path | None = None,
    evals: Path | None = None,
    batches: Sequence[Path] = (),
    candidate: Any = None,
    baseline: Any = None,
    publish: bool = False,
    environ: Mapping[str, str] | None = None,
    store: Any = None,
    failed_stages: Sequence[str] = (),
) -> dict[str, Any]:
    """Collect, render (Markdown, step summary, HTML, CSV) and, with ``publish``, post to the forge.

    ``failed_stages`` names pipeline jobs that failed before the gates could decide (e.g. a
    rejected batch in ``validate``): each counts as an error, so the verdict is ``fail`` and
    the commit status ``failure`` rather than ``pending``.

    In GitHub Actions (``environ``, default ``os.environ``) the HTML link points at the run's
    artifacts and the summary is appended to ``$GITHUB_STEP_SUMMARY``; locally the link is
    the HTML file. Returns ``{verdict, state, files, published}``.
    """

    env = os.environ if environ is None else environ
    out = Path(out_dir) if out_dir is not None else default_report_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    ctx = actions_context(env)
    html_path = (out / "report.html").resolve()
    html_url = f"{ctx.run_url}#artifacts" if ctx.run_url else html_path.as_uri()
    data = collect_report_data(
        config, gate_results=gate_results, evals=evals, batches=batches, candidate=candidate, baseline=baseline,
        html_url=html_url, run_url=ctx.run_url, store=store,
    )
    data.gate_errors.extend(f"the {stage} stage failed before the gates could decide" for stage in failed_stages)
    files = write_report(data, out, step_summary=env.get("GITHUB_STEP_SUMMARY") or None)
    verdict = verdict_of(data.gates, data.inconclusive_blocks, data.gate_errors)
    result: dict[str, Any] = {
        "verdict": verdict.state,
        "state": verdict.commit_state,
        "summary": verdict.sentence(),
        "files": files.to_dict(),
        "published": None,
    }
    if publish:
        forge = open_forge(config, config.root, environ=env)
        head_sha = ctx.head_sha or git_commit(config.root)
        published = publish_report(
            forge, data, files.markdown.read_text(encoding="utf-8"), pr=ctx.pr_number, head_sha=head_sha,
            details_url=ctx.run_url or html_url, status_context=config.forge.status_context, check_name=config.forge.check_name,
        )
        published["forge"] = forge.name
        if forge.name == "local":
            published["forge_dir"] = str(forge.root)
        result["published"] = published
    return result
