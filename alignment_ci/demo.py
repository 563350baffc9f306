"""`alignment-ci demo`: the whole loop on embedded defaults, in a throwaway workspace.

Every step calls the same library function the CLI command calls; the demo only adds
the synthetic vendor data and the narration.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from .candidates import production_baseline, set_baseline
from .config import Config, config_to_dict
from .data.manifest import snapshot, verify_manifests
from .data.manifest import exclude_raters, find_batch
from .demo_loop import BridgeProcess, Vendor, _cli, judge, merge_pull_request, production_events
from .demo_critic import critic_step
from .errors import AlignmentCIError
from .gating.context import GateOptions
from .gating.results import summary_lines
from .gating.runner import run_gates
from .jsonl import write_jsonl
from .lineage import LineageLog
from .monitor import queue as q
from .quality.health import label_health, without_raters
from .quality.load import load_valid_batch
from .report.collect import build_report
from .report.console import render_agreement
from .report.render import render_health_markdown
from .report.data import improvements, losses
from .textsafety import truncate
from .rollout import controller, simulator
from .rollout.plan import plan_from_config
from .store import open_store
from .synth import PLANTED_BAD_RATERS, RATER_ROLES, make_bad_batch_lines, make_pairwise_batch
from .train.runs import train_pipeline


#: SFT steps of the demo's candidate (the tiny model; `training.sft.max_steps` in its alignment.yaml).
DEMO_SFT_STEPS = 200


def _workspace(workdir: Path | None) -> Path:
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="alignment-ci-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def run_demo(workdir: Path | None = None, console: Console | None = None) -> dict[str, Any]:
    """Run the demo; returns a summary (also what `demo --format json` prints)."""

    console = console or Console()
    ws = _workspace(workdir).resolve()
    config = Config()
    # The tiny policy needs more supervised steps than the default to answer in sentences the
    # policy gates can judge (at 60 steps it repeats fragments and policy health blocks it).
    config = config.model_copy(update={"training": config.training.with_stage("sft", max_steps=DEMO_SFT_STEPS)})
    config._root = ws
    (ws / "alignment.yaml").write_text(
        "# Written by `alignment-ci demo`: the built-in defaults, resolved.\n"
        + yaml.safe_dump(config_to_dict(config), sort_keys=False),
        encoding="utf-8",
    )
    summary: dict[str, Any] = {"workspace": str(ws)}
    console.print(Panel.fit(f"alignment-ci demo — workspace [bold]{escape(str(ws))}[/bold]", style="cyan"))

    # 1. A vendor delivers two batches: a good one and one with typical mistakes.
    incoming = ws / "incoming" / "acme"
    good = write_jsonl(
        make_pairwise_batch(batch_id="acme-2026-11-001", n_items=240, gold_share=0.35, seed=1), incoming / "acme-2026-11-001.jsonl"
    )
    bad = incoming / "acme-2026-11-002.jsonl"
    bad.write_text("\n".join(make_bad_batch_lines("acme-2026-11-002")) + "\n", encoding="utf-8")

    store = open_store(config)
    lineage = LineageLog(store)
    config_path = ws / "alignment.yaml"
    with BridgeProcess(config_path) as bridge:
        console.rule(f"1. the vendor pushes its batches through the rater bridge ({bridge.url})")
        vendor = Vendor(bridge, bridge.add_vendor("acme"))
        with console.status("POST /v1/batches acme-2026-11-001 …"):
            code, answer = vendor.push(good)
        if code != 201 or not answer.get("accepted"):
            raise AlignmentCIError(f"the bridge refused the demo batch ({code}): {str(answer)[:500]}")
        pr = answer["pr"]
        console.print(f"HTTP {code}: accepted, pull request #{pr['number']} opened on branch labels/acme/{escape(answer['batch_id'])} ({escape(pr['url'])})")
        merged = merge_pull_request(config, pr["number"])
        bridge.mark("acme", answer["batch_id"], "merged")
        console.print(f"the gates would run on that PR; the demo merges it: {escape(', '.join(merged))}")
        m = yaml.safe_load((ws / merged[0]).read_text(encoding="utf-8"))
        table = Table(title="accepted batch acme-2026-11-001")
        table.add_column("dimension")
        table.add_column("rows", justify="right")
        table.add_column("items", justify="right")
        table.add_column("raters", justify="right")
        table.add_column("choices")
        for dim, entry in m["dimensions"].items():
            choices = ", ".join(f"{k}={v}" for k, v in entry.get("choices", {}).items())
            table.add_row(dim, str(entry["rows"]), str(entry["items"]), str(entry["raters"]), choices)
        console.print(table)
        console.print(f"stored as [bold]{m['sha256'][:16]}…[/bold] ({escape(m['store_uri'])})")
        summary["accepted_batch"] = {"batch_id": m["batch_id"], "sha256": m["sha256"], "rows": m["rows"], "manifest": str(ws / merged[0]), "pr": pr}

        bad_code, rejected = vendor.push(bad)
        console.print(f"\n[bold]acme-2026-11-002[/bold] has the mistakes vendors make — HTTP {bad_code}, answered at once:")
        for e in rejected.get("errors", []):
            where = f"{bad.relative_to(ws)}:{e['line']}" + (f":{e['col']}" if e.get("col") else "")
            column = f" [{escape(str(e['column']))}]" if e.get("column") else ""
            console.print(f"{escape(where)}: [red]error[/red] {escape(e['kind'])}{column}: {escape(e['message'])}")
        console.print("nothing of the rejected batch was written (no blob, no manifest, no pull request)")
        summary["rejected_batch"] = {
            "status": bad_code,
            "accepted": rejected.get("accepted"),
            "errors": [{"line": e["line"], "column": e.get("column"), "kind": e["kind"]} for e in rejected.get("errors", [])],
        }
        again_code, again = vendor.push(good)
        same = again.get("pr") == pr and again.get("duplicate")
        console.print(f"pushing the same file again: HTTP {again_code}, {'the same batch and pull request (idempotent)' if same else 'a new PR?!'}")
        summary["reingest_noop"] = bool(same)
        summary["bridge_status"] = vendor.status(m["batch_id"]).get("status")

        # 2. What training will see: the snapshot, verified manifests, a verified audit log.
        console.rule("2. dataset snapshot and audit log")
        snap = snapshot(config)
        verified = verify_manifests(config, store=store)
        chain = lineage.verify().to_dict()
        console.print(f"dataset snapshot: [bold]{snap['snapshot']}[/bold] ({len(snap['batches'])} batch)")
        console.print(f"manifest verify: {'[green]ok[/green]' if verified['ok'] else '[red]FAILED[/red]'} ({verified['checked']} checked)")
        console.print(f"lineage verify: {'[green]ok[/green]' if chain['ok'] else '[red]FAILED[/red]'} ({chain['checked']} entries)")
        summary.update({"snapshot": snap["snapshot"], "manifests_ok": verified["ok"], "lineage_ok": chain["ok"]})
        summary["planted_bad_raters"] = sorted(PLANTED_BAD_RATERS)

        summary["quality"] = _quality_step(console, config, good)
        summary["label_gate"] = _label_gate_step(console, config, m["batch_id"])
        summary["training"] = _training_step(console, config, store)
        summary["critic"] = critic_step(console, config, store, summary["training"])
        summary["gates"] = _gate_step(console, config, store, summary["training"], good, m["batch_id"])
        summary["rollout"] = _rollout_step(console, config, store, summary["training"])
        summary["loop"] = _closed_loop_step(console, config, bridge, vendor, good)

    console.rule("outputs")
    console.print(f"health:     {escape(str(ws / 'out' / 'health.md'))}")
    console.print(f"routing:    {escape(str(config.resolve(config.rollout.router.path)))}")
    console.print(f"events:     {escape(str(ws / 'events'))}")
    console.print(f"workspace:  {escape(str(ws))}")
    console.print(f"manifests:  {escape(str(ws / config.paths.manifests))}")
    console.print(f"store:      {escape(str(config.resolve(config.stores.artifacts.path)))}")
    console.print(f"re-run any step, e.g.: alignment-ci manifest verify --config {escape(str(ws / 'alignment.yaml'))}")
    return summary


def _quality_step(console: Console, config: Config, batch: Path) -> dict[str, Any]:
    """Label quality of the accepted batch: the planted bad raters must be caught."""

    console.rule("3. label quality")
    with console.status("agreement, rater reliability, aggregation …"):
        df, _ = load_valid_batch(batch, config)
        health = label_health(df, config, bootstrap_samples=200)
        clean = label_health(without_raters(df, list(health["flagged_raters"])), config, bootstrap_samples=200)
    render_agreement(console, health["agreement"])
    table = Table(title="flagged raters (planted behaviour in brackets)")
    table.add_column("rater")
    table.add_column("planted as")
    table.add_column("reasons")
    for rid, info in health["flagged_raters"].items():
        table.add_row(escape(rid), RATER_ROLES.get(rid, "?"), escape("; ".join(info["reasons"])))
    console.print(table)
    caught = set(health["flagged_raters"])
    console.print(
        f"planted bad raters caught: [bold]{len(caught & PLANTED_BAD_RATERS)}/{len(PLANTED_BAD_RATERS)}[/bold], "
        f"careful raters wrongly flagged: {len(caught - PLANTED_BAD_RATERS)}"
    )
    console.print("without the flagged raters:")
    render_agreement(console, clean["agreement"])
    out_dir = config.root / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "health.md").write_text(render_health_markdown(health), encoding="utf-8")
    alphas = {d: v["krippendorff_alpha"] for d, v in health["agreement"]["dimensions"].items()}
    clean_alphas = {d: v["krippendorff_alpha"] for d, v in clean["agreement"]["dimensions"].items()}
    return {
        "verdict": health["verdict"],
        "flagged": sorted(caught),
        "planted_caught": sorted(caught & PLANTED_BAD_RATERS),
        "alpha": alphas,
        "alpha_without_flagged": clean_alphas,
    }


def _label_gate_step(console: Console, config: Config, batch_id: str) -> dict[str, Any]:
    """The label-quality gate on the batch with the planted raters: it fails and names the
    remedy; the reviewer commits the exclusion to the manifest; the gate passes."""

    console.rule("3b. label quality decides: the gate fails, the reviewed exclusion, the gate passes")
    gates_dir = _repository_gates(config)
    options = GateOptions(batches=batch_id, alignment_config=str(config.root / "alignment.yaml"))

    def judge() -> Any:
        with console.status("label_quality gate …"):
            run = run_gates(options, gates_dir=gates_dir, select="label_quality")
        result = next(r for r in run.report.results if r.gate.startswith("label_quality"))
        colour = "green" if result.outcome == "pass" else "red"
        console.print(f"[{colour}]{result.outcome.upper()}[/{colour}] {escape(result.gate)}: {escape(result.reason)}")
        return result

    before = judge()
    remedy = (before.details or {}).get("remedy") or {}
    raters = list(remedy.get("exclude_raters") or [])
    excluded: dict[str, Any] = {}
    if raters:
        excluded = exclude_raters(config, batch_id, raters, "flagged by the label_quality gate: " + remedy.get("why", ""),
                                  by="demo-reviewer")
        path = find_batch(config, batch_id)
        console.print(f"the reviewer records the remedy as a change to {escape(str(path[0].relative_to(config.root)) if path else batch_id)} "
                      f"(excluded_raters: {escape(', '.join(excluded['excluded']))}) and commits it with the pull request")
    after = judge()
    return {"before": before.outcome, "remedy": raters, "remedy_outcome": remedy.get("outcome_after"),
            "excluded": excluded.get("excluded", []), "after": after.outcome}


def _training_step(console: Console, config: Config, store) -> dict[str, Any]:
    """Train the production model (a weaker pipeline, made the baseline) and the candidate
    (reward → sft → dpo), each recorded as one candidate; show the cache hit on a rerun."""

    console.rule("4. train the production baseline and the candidate: reward → sft → dpo (tiny model, CPU)")
    weak = config.model_copy(update={"training": config.training.with_stage("reward", max_steps=4)
                                     .with_stage("sft", max_steps=4).with_stage("dpo", max_steps=4)})
    with console.status("training the production model (4 steps per stage) …"):
        base = train_pipeline(weak, store=store)
    set_baseline(store, base, set_by="manual", reason="the demo's first production model")
    console.print(f"production baseline: candidate {base['candidate_id'][:12]} (recorded with "
                  "`alignment-ci baseline set`: a first model has no rollout to record it)")
    with console.status("training the candidate (reward, sft, dpo) …"):
        cand = train_pipeline(config, store=store)
    runs = cand["run_records"]
    m = runs["reward"]["metrics"]
    console.print(
        f"reward model {runs['reward']['artifact'][:12]}: held-out pairwise accuracy "
        f"{m.get('eval_accuracy_start', float('nan')):.2f} → [bold]{m.get('eval_accuracy', float('nan')):.2f}[/bold], "
        f"margin {m.get('eval_margin', float('nan')):.2f} — it learned the planted preference for specific, polite answers"
    )
    d = runs["dpo"]["metrics"]
    console.print(
        f"DPO policy {runs['dpo']['artifact'][:12]}: held-out reward accuracy {d.get('eval_reward_accuracy', float('nan')):.2f}, "
        f"margin {d.get('eval_reward_margin', float('nan')):.2f} (reference: SFT {runs['sft']['artifact'][:12]})"
    )
    console.print(f"candidate [bold]{cand['candidate_id'][:12]}[/bold] links them: reward model {cand['reward_model']}, "
                  f"reference {cand['reference']}, policy {cand['policy']}")
    again = train_pipeline(config, store=store)
    cached = all(r["cached"] for r in again["run_records"].values())
    console.print(f"rerun with nothing changed: every stage cached = [bold]{cached}[/bold], the same candidate "
                  f"{again['candidate_id'][:12]}")

    def brief(record: dict[str, Any]) -> dict[str, Any]:
        return {"run_key": record["run_key"], "artifact": record["artifact"], "metrics": record["metrics"]}

    return {
        "candidate_id": cand["candidate_id"],
        "baseline_id": base["candidate_id"],
        "baseline_policy": base["runs"]["dpo"]["artifact"],
        "reward": brief(runs["reward"]),
        "dpo": brief(runs["dpo"]),
        "rerun_cached": cached and again["candidate_id"] == cand["candidate_id"],
    }


def _rollout_step(console: Console, config: Config, store, training: dict[str, Any]) -> dict[str, Any]:
    """Roll the trained policy out on simulated traffic, then roll back a worse one by itself."""
    import json
    from datetime import datetime, timedelta, timezone


    console.rule("6. merge → staged rollout on simulated production traffic")
    plan = plan_from_config(config)
    events_dir = config.root / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    baseline = training["baseline_policy"]  # model versions are policy artifacts: the production model's first
    results: dict[str, Any] = {}
    for name, candidate, scenario in (
        ("healthy", training["dpo"]["artifact"], simulator.healthy()),
        ("regressed", "policy-worse", simulator.regressed({"thumbs_down": 1.8, "escalated": 1.8, "hallucination_flag": 1.8})),
    ):
        rollout_id = f"demo-{name}"
        t = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
        state = controller.start(store, rollout_id, baseline, candidate, plan, now=t)
        sim = simulator.TrafficSimulator(scenario, baseline, candidate, events_per_minute=2000, seed=11 if name == "healthy" else 12)
        path: list[str] = [f"{state['percent']:g}%"]
        files: list[str] = []
        for i in range(40):
            end = t + timedelta(minutes=15)
            events = sim.emit(t, end, state["percent"])
            f = events_dir / f"{rollout_id}-{i:02d}.jsonl"
            write_jsonl(events, f)
            files.append(str(f))
            state = controller.step(store, rollout_id, files, now=end)
            t = end
            if state["outcome"] == "promote":
                path.append(f"{state['percent']:g}%")
            if state["status"] in ("completed", "rolled_back", "paused"):
                break
        colour = {"completed": "green", "rolled_back": "red"}.get(state["status"], "yellow")
        console.print(f"{name} candidate {escape(candidate[:12])}: {' → '.join(path)} — [{colour}]{state['status']}[/{colour}]")
        if state["status"] == "rolled_back":
            for reason in state["decision"].get("reasons", []):
                console.print(f"  evidence: {escape(str(reason))}")
            metrics = (state.get("analysis") or {}).get("metrics", {})
            for metric, m in metrics.items():
                if m.get("candidate") is not None and metric.endswith("_rate"):
                    console.print(f"  {metric}: candidate {m['candidate']:.3f} vs baseline {m['baseline']:.3f} (e-value {m['evalue']:.3g})")
        results[name] = {"status": state["status"], "path": path, "weights": state["weights"], "steps": len(files)}
        if state["status"] == "completed":
            now = production_baseline(store)
            console.print(f"  it reached 100%: candidate {now['candidate_id'][:12]} is the production baseline now "
                          f"(#{now['seq']}, set by {escape(now['set_by'])}); the next pull request is gated against it")
            results["baseline_after"] = now["candidate_id"]
            baseline = candidate
    routing = config.resolve(config.rollout.router.path)
    table = json.loads(routing.read_text(encoding="utf-8"))
    console.print(f"routing table now ({escape(str(routing.name))}): {escape(json.dumps(table.get('weights', table)))}")
    return results


def _repository_gates(config: Config) -> Path | None:
    """The repository's own gates/ (examples; the built-in gates ship in the package), copied
    into the workspace as a user's repository has it, with the eval and red-team sets."""
    import shutil

    repo = Path(__file__).resolve().parents[1]
    eval_sets = config.resolve(config.paths.manifests) / "eval"
    if (repo / "datasets_manifest" / "eval").is_dir() and not eval_sets.exists():
        shutil.copytree(repo / "datasets_manifest" / "eval", eval_sets)
    source = repo / "gates"
    if not (source / "conftest.py").exists():
        return None
    target = config.resolve(config.paths.gates)
    if not target.exists():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _show_side_by_side(console: Console, gates_json: Path, n: int = 3) -> int:
    """The eval prompts the candidate policy lost and won most against the baseline's, side by side."""
    import json

    gates = json.loads(gates_json.read_text(encoding="utf-8")).get("gates") or []
    examples = next((g["details"]["examples"] for g in gates if isinstance(g.get("details"), dict)
                     and g["details"].get("examples")), [])
    lost, won = losses(examples), improvements(examples)
    shown = (lost[: n - min(len(won), n // 2)] + won)[:n] if lost or won else examples[:n]
    if not shown:
        console.print("no side-by-side answers: the policy_winrate gate did not compare two policies")
        return 0
    table = Table(title="candidate policy vs baseline (largest regressions, then improvements)")
    for column in ("prompt", "baseline answer", "candidate answer", "Δ (independent judge)"):
        table.add_column(column)
    for e in shown:
        delta = e.get("delta")
        table.add_row(*(escape(truncate(str(e.get(k, "")).strip(), 120)) for k in ("prompt", "baseline", "candidate")),
                      "–" if delta is None else f"{delta:+.3f}")
    console.print(table)
    return len(shown)


def _gate_step(console: Console, config: Config, store, training: dict[str, Any], batch: Path,
               batch_id: str) -> dict[str, Any]:
    """Gate the whole candidate (reward model, reference, policy) against the production
    baseline, then render and publish the report."""

    console.rule("5. gates on the whole candidate against the production baseline, and the PR report")
    gates_dir = _repository_gates(config)
    options = GateOptions(candidate=training["candidate_id"], batches=batch_id,
                          alignment_config=str(config.root / "alignment.yaml"))
    with console.status("running the built-in gates and gates/ through pytest …"):
        run = run_gates(options, gates_dir=gates_dir)
    console.print(f"candidate {escape(str(run.report.candidate.get('source')))}")
    console.print(f"baseline  {escape(str(run.report.baseline.get('source')))}")
    for line in summary_lines(run.report):
        console.print(f"  {escape(line)}")
    colour = "green" if run.report.verdict == "pass" else "red"
    console.print(f"gate verdict: [{colour}]{run.report.verdict}[/{colour}] (results in {escape(str(run.results_dir))})")
    with console.status("rendering the report …"):
        report = build_report(config, batches=[batch], gate_results=run.results_dir / "gates.json", publish=True, environ={}, store=store)
    files = report["files"]
    first_line = Path(files["markdown"]).read_text(encoding="utf-8").splitlines()[0]
    console.print(f"the report's first line: [bold]{escape(first_line)}[/bold]")
    console.print(f"report:     {escape(str(files['markdown']))}")
    console.print(f"html:       {escape(str(files['html']))}")
    published = report.get("published") or {}
    comment = (published.get("comment") or {}).get("url")
    console.print(f"published to the local forge: comment {escape(str(comment))}, status {escape(str(report['state']))}")
    side_by_side = _show_side_by_side(console, run.results_dir / "gates.json")
    return {
        "side_by_side": side_by_side,
        "verdict": run.report.verdict,
        "counts": run.report.counts,
        "outcomes": {r.gate: r.outcome for r in run.report.results},
        "candidate": run.report.candidate,
        "baseline": run.report.baseline,
        "first_line": first_line,
        "report_verdict": report["verdict"],
        "state": report["state"],
        "files": {k: str(v) for k, v in files.items()},
        "comment": comment,
    }


def _closed_loop_step(console: Console, config: Config, bridge, vendor, batch: Path) -> dict[str, Any]:
    """Production failures → triage → rater queue → the vendor pulls tasks (gold mixed in) → next batch."""
    import json
    import random


    console.rule("7. production failures go back to the raters")
    events_dir = config.root / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    events = production_events(events_dir / "production.jsonl")
    with console.status("triage: failure signals, near-duplicate grouping (MiniLM embeddings), priority …"):
        flagged = _cli(config.root / "alignment.yaml", "monitor", "ingest", str(events), "--out", str(config.root / "out" / "flagged.jsonl"), "--enqueue")
    console.print(
        f"{flagged['events']} production events ({flagged['opted_out_dropped']} of opted-out users dropped) → "
        f"{flagged['failing_events']} failing (thumbs down {flagged['signals']['thumbs_down']}, corrections "
        f"{flagged['signals']['correction']}, escalations {flagged['signals']['escalation']}) → {flagged['groups']} "
        f"near-duplicate groups, prioritised by severity × frequency × customer value → {flagged['enqueued']} queued for raters"
    )
    # Gold items (from the merged batch's gold answers) and a calibration set for new raters.
    rows = [json.loads(line) for line in batch.read_text(encoding="utf-8").splitlines()]
    gold = {r["item_id"]: r for r in rows if r.get("gold_choice") in ("a", "b")}
    engine = q.open_queue(config)
    with q.session_scope(engine) as s:
        gold_ids = set(q.enqueue(s, [
            {"item_id": f"gold-{r['item_id']}", "prompt": r["prompt"], "responses": [r["response_a"], r["response_b"]],
             "dimension": r["dimension"], "is_gold": True, "gold_answer": r["gold_choice"]}
            for r in list(gold.values())[:20]
        ]).ids)
        for dim in config.taxonomy.names:
            sample = [r for r in gold.values() if r["dimension"] == dim][:3] or list(gold.values())[:3]
            q.add_calibration_items(s, dim, [{"prompt": r["prompt"], "responses": [r["response_a"], r["response_b"]], "answer": r["gold_choice"]} for r in sample])
    rng = random.Random(7)
    judged: list[dict[str, Any]] = []
    served_gold = 0
    for rater in ("r01", "r02"):
        first = vendor.tasks(rater, 10)
        phases = sorted({t["phase"] for t in first})
        for dim in sorted({t["dimension"] for t in first if t["phase"] == "calibration"}):
            answers = {t["task_id"]: judge(t, random.Random(0)) for t in first if t["phase"] == "calibration" and t["dimension"] == dim}
            result = vendor.calibrate(rater, dim, answers)
            console.print(f"{rater}: new to {escape(dim)} → onboarding/calibration first ({', '.join(phases)}); passed: {result.get('passed')}")
        real = [t for t in vendor.tasks(rater, 12) if t["phase"] == "task"]
        served_gold += sum(t["task_id"] in gold_ids for t in real)
        for t in real:
            if len(t["responses"]) == 2:
                judged.append({"task": t, "rater": rater, "choice": judge(t, rng)})
    console.print(f"the vendor pulled {sum(1 for _ in judged)} pairwise tasks; {served_gold} were gold items, indistinguishable in the payload")
    next_rows = [
        {
            "batch_id": "acme-2026-11-003", "item_id": j["task"]["task_id"], "rater_id": j["rater"], "dimension": j["task"]["dimension"],
            "task_type": "pairwise", "prompt": j["task"]["prompt"], "response_a": j["task"]["responses"][0],
            "response_b": j["task"]["responses"][1], "choice": j["choice"], "time_spent_s": round(rng.uniform(15, 50), 1),
            "sampling_bucket": "production_failure", "sampling_reason": "triaged production failure",
        }
        for j in judged
    ]
    path = write_jsonl(next_rows, config.root / "incoming" / "acme" / "acme-2026-11-003.jsonl")
    code, answer = vendor.push(path)
    pr = (answer.get("pr") or {})
    colour = "green" if code == 201 else "red"
    console.print(f"the next batch comes back: acme-2026-11-003, {len(next_rows)} judgments → HTTP [{colour}]{code}[/{colour}], pull request #{pr.get('number')}")
    return {"flagged": flagged, "tasks": len(judged), "gold_served": served_gold, "next_batch": {"status": code, "pr": pr, "rows": len(next_rows)}}
