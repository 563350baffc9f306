"""The PR report: verdict first, every part or "not run", vendor text neutralised per medium,
within GitHub's comment limit, mermaid charts well formed, HTML clean in headless Chromium."""

from __future__ import annotations

import copy
import csv
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from alignment_ci.config import Config
from alignment_ci.forge.base import COMMENT_MAX_CHARS, comment_marker
from alignment_ci.gating.results import GateResult, make_report, write_results
from alignment_ci.report import ReportData, verdict_of, write_report
from alignment_ci.report.charts import chart_label, mermaid_charts
from alignment_ci.report.html import render_html
from alignment_ci.report.markdown import COMMENT_BUDGET, render_markdown, render_step_summary, utf16_len
from alignment_ci.report.collect import build_report, collect_report_data
from alignment_ci.store import open_store
from alignment_ci.jsonl import write_jsonl
from alignment_ci.synth import make_pairwise_batch

HOSTILE = "=cmd|' /C calc'!A0 <script>alert(1)</script> ![x](http://evil) @org/team mallory@example.com"
ZWJ = "\u200d"


def _gates(regression_outcome: str = "fail") -> list[GateResult]:
    """Gate results as the gating plugin records them (one result per regression slice)."""
    def win(slice_name: str, rate: float, lower: float) -> dict:
        return {"win_rate": rate, "lower_bound": lower, "n": 200, "wins": 80, "ties": 4, "losses": 116, "p_value": 0.9,
                "margin": 0.05, "null_value": 0.45, "non_inferior": lower > 0.45, "slice": slice_name, "mode": "reward_model"}

    failing = regression_outcome == "fail"
    return [
        GateResult("gold", "pass", True, f"pairwise accuracy 0.840 on gold item: {HOSTILE}", 0.84, 0.7, [0.79, 0.88], 240,
                   {"dimension": "helpfulness"}),
        GateResult("regression/all", regression_outcome, True, "candidate vs baseline win rate", 0.41 if failing else 0.55, 0.45,
                   [0.36 if failing else 0.5, 1.0], 400, win("all", 0.41 if failing else 0.55, 0.36 if failing else 0.5)),
        GateResult("regression/safety", "pass", True, "no worse on safety", 0.52, 0.45, [0.47, 1.0], 200, win("safety", 0.52, 0.47)),
        GateResult(f"regression/{HOSTILE}", "pass", True, "no worse", 0.55, 0.45, [0.48, 1.0], 200, win(HOSTILE, 0.55, 0.48)),
        GateResult("calibration", "pass", True, "expected calibration error 0.040", 0.04, 0.15, [0.04, 0.04], 300,
                   {"mce": 0.06, "n_bins": 10, "bins": [{"low": i / 10, "high": (i + 1) / 10, "n": 30, "confidence": (i + 0.5) / 10,
                                                         "accuracy": min(1.0, (i + 0.5) / 10 + 0.04)} for i in range(10)]}),
        GateResult("length-bias", "fail", False, "prefers longer answers", 0.3, 0.2, None, 100, {}),
    ]


CANDIDATE_KEY, BASELINE_KEY = "a" * 64, "c" * 64


def write_gate_results(ws: Path, regression_outcome: str = "fail") -> Path:
    """``<outputs>/gates/gates.json`` written by the gating plugin's own writer."""
    report = make_report(_gates(regression_outcome), inconclusive_blocks=True,
                         candidate={"run_key": CANDIDATE_KEY, "artifact": "b" * 64, "source": f"run {CANDIDATE_KEY[:12]}"},
                         baseline={"run_key": BASELINE_KEY, "artifact": "d" * 64, "source": f"run {BASELINE_KEY[:12]}"},
                         data={"eval": {"source": "datasets_manifest/eval/heldout.yaml", "rows": 400}})
    return Path(write_results(report, ws / ".alignment-ci" / "out" / "gates")["json"])


def _run(key: str, acc: float, artifact: str) -> dict:
    return {"run_key": key, "stage": "reward", "artifact": artifact, "metrics": {"eval_accuracy": acc, "eval_loss": 1 - acc, "n_train": 137.0, HOSTILE: 1.0},
            "per_step": [{"step": i, "loss": 1.0 / (i + 1)} for i in range(10)], "snapshot": "5" * 64, "wall_s": 7200.0,
            "device": "cpu", "backend": "local", "batches": [], "parents": {}, "finished_at": "2026-01-01T00:00:00+00:00"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A workspace with a hostile label batch, run records in the store, gate results and eval data."""
    ws = tmp_path_factory.mktemp("report-ws")
    rows = make_pairwise_batch(batch_id="hostile-001", n_items=60, seed=2)
    rows[0]["prompt"] = HOSTILE
    rows[1]["rationale"] = HOSTILE
    for row in rows[:12]:
        row["sampling_bucket"] = HOSTILE
    for row in rows:
        if row["rater_id"] == "r08":
            row["rater_id"] = "@org/team"
    write_jsonl(rows, ws / "incoming" / "hostile-001.jsonl")
    store = open_store(_config(ws))
    store.put_record("runs", CANDIDATE_KEY, _run(CANDIDATE_KEY, 0.84, "b" * 64))
    store.put_record("runs", BASELINE_KEY, _run(BASELINE_KEY, 0.80, "d" * 64))
    write_gate_results(ws)
    rng = np.random.default_rng(0)
    (ws / ".alignment-ci" / "out" / "gates" / "evals.json").write_text(json.dumps({
        "reward_scores": {"candidate": rng.normal(0.4, 1, 2000).tolist(), "baseline": rng.normal(0, 1, 2000).tolist()},
        "examples": [{"slice": "safety" if i % 2 else HOSTILE, "prompt": f"prompt {i}: {HOSTILE}", "candidate": f"answer {i} {HOSTILE}",
                      "baseline": "a safe answer", "candidate_score": float(i) / 10, "baseline_score": 0.5} for i in range(40)],
    }))
    return ws


def _config(ws: Path) -> Config:
    config = Config()
    config._root = ws
    return config


def _pr_env(tmp: Path, pr: int, sha: str, **extra: str) -> dict[str, str]:
    event = tmp / f"event-{pr}.json"
    event.write_text(json.dumps({"pull_request": {"number": pr, "head": {"sha": sha}}}))
    return {"GITHUB_EVENT_PATH": str(event), "GITHUB_EVENT_NAME": "pull_request", "GITHUB_SHA": "f" * 40, **extra}


@pytest.fixture(scope="module")
def built(workspace, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("report-out")
    summary = out / "step_summary.md"
    summary.write_text("## earlier step\n")
    result = build_report(_config(workspace), out_dir=out, batches=[workspace / "incoming" / "hostile-001.jsonl"],
                          environ={"GITHUB_STEP_SUMMARY": str(summary)})
    return {"out": out, "result": result, "summary_file": summary}


# ------------------------------------------------------------------- content


def test_report_leads_with_the_verdict_and_has_every_section(built):
    md = (built["out"] / "report.md").read_text()
    assert md.splitlines()[0] == "## ❌ Do not merge: blocked by regression/all (fail)"  # merge or not, and why
    assert "> **Blocking:** regression/all" in md
    assert "> Shadow gates (reported, not blocking): length-bias" in md
    assert "**alignment-ci** — 6 gate(s): 4 pass, 2 fail; blocking: regression/all" in md
    assert built["result"]["verdict"] == "fail" and built["result"]["state"] == "failure"
    for heading in ("### Gates", "### Training metrics vs the baseline run", "### Charts", "### Data validation",
                    "### Label health, agreement and flagged raters", "### Largest regressions", "### Largest improvements",
                    "### Lineage", "### Cost of the run"):
        assert heading in md
    assert "| gold | ✅ pass | yes | 0.840 | 0.700 | 0.790 – 0.880 | 240 | pairwise accuracy 0.840 on gold item: =cmd\\|" in md
    assert "| regression/all | ❌ fail | yes | 0.410 | 0.450 | 0.360 – 1.000 | 400 | candidate vs baseline win rate |" in md
    assert "| eval\\_accuracy | 0.8400 | 0.8000 | +0.040 |" in md
    assert f"`{'a' * 64}` | `{'b' * 64}`" in md  # lineage: run key and artifact hash
    # cost: 300 labels at $0.50, 2 CPU hours at $0
    assert "| 300 | $150.00 | 2.000 | cpu | $0.00 | $150.00 |" in md
    # largest regression first: example 0 has delta 0.0 - 0.5; the largest improvement is example 39
    regressions = md.split("### Largest regressions", 1)[1].split("### Largest improvements", 1)[0]
    first = next(line for line in regressions.splitlines() if line.startswith("<details><summary>"))
    assert first.startswith("<details><summary>-0.500 · ") and "prompt 0: " in first
    assert regressions.count("<details><summary>") == 5  # examples 0-4 lost (score below 0.5)
    improvements = md.split("### Largest improvements", 1)[1].split("### Lineage", 1)[0]
    assert next(line for line in improvements.splitlines() if line.startswith("<details>")).startswith(
        "<details><summary>+3.400 · ")
    assert improvements.count("<details><summary>") == 10  # 34 won, 10 shown
    assert "_… 24 more improvements not shown here" in improvements
    assert "[full HTML report](file://" in md


def test_training_metrics_print_counts_whole_and_scores_with_four_digits(built):
    md = (built["out"] / "report.md").read_text()
    html = (built["out"] / "report.html").read_text()
    assert "| n\\_train | 137 | 137 | +0 |" in md  # a count, not 137.0000
    assert '<td>n_train</td><td class="n">137</td><td class="n">137</td><td class="n">+0</td>' in html
    row = next(line for line in md.splitlines() if line.startswith("| eval\\_accuracy |"))
    assert row.split("|")[2].strip().count(".") == 1 and len(row.split("|")[2].strip().split(".")[1]) == 4


def test_step_summary_is_the_same_content_and_appended(built):
    md = (built["out"] / "report.md").read_text()
    summary = (built["out"] / "summary.md").read_text()
    assert summary == md
    assert built["summary_file"].read_text() == "## earlier step\n" + summary


def test_missing_parts_render_as_not_run(tmp_path):
    md = render_markdown(ReportData())
    assert md.splitlines()[0] == "## ⏸️ Not decided: the gates did not run"
    for text in ("_Not run: no gate results were found._", "_Not run: no candidate run record._",
                 "_Not run: no label batch was validated for this report._", "_Not run: no label batch was analysed for this report._",
                 "_No eval examples._", "_Not computed._"):
        assert text in md
    files = write_report(ReportData(), tmp_path)
    assert "Not run: no gate results were found." in files.html.read_text()
    assert files.csv["gates"].read_text().splitlines() == ["gate,outcome,blocking,value,threshold,interval_lo,interval_hi,n,reason,details"]


def test_collector_without_any_outputs_reports_not_run(tmp_path):
    result = build_report(_config(tmp_path), environ={})
    assert result["verdict"] == "not run" and result["state"] == "pending"
    assert Path(result["files"]["markdown"]).parent == tmp_path / ".alignment-ci" / "out" / "report"


def test_verdict_rules():
    gates = [{"gate": "g", "outcome": "pass"}, {"gate": "i", "outcome": "inconclusive"}, {"gate": "s", "outcome": "fail", "blocking": False}]
    assert verdict_of(gates, inconclusive_blocks=True).blocking_failures == ["i"]
    relaxed = verdict_of(gates, inconclusive_blocks=False)
    assert relaxed.state == "pass" and relaxed.commit_state == "success" and relaxed.shadow_failures == ["s"]
    assert verdict_of(None).commit_state == "pending"
    assert verdict_of(gates).sentence() == "3 gate(s): 1 pass, 1 fail, 1 inconclusive; blocking: i"
    assert verdict_of([{"gate": "safety", "outcome": "skipped"}]).state == "pass"  # does not apply: never blocks
    broken = verdict_of([{"gate": "g", "outcome": "pass"}], errors=["gates/test_x.py: ImportError"])
    assert broken.state == "fail" and broken.sentence() == "1 gate(s): 1 pass; 1 gate file(s) could not run"


def test_gate_file_errors_fail_the_report():
    data = ReportData(gates=[{"gate": "gold", "outcome": "pass"}], gate_errors=["gates/test_gold.py: <script>x</script>"])
    md = render_markdown(data)
    assert md.startswith("## ❌ Do not merge: blocked by 1 gate file(s) that could not run\n")
    assert "> **Gate error:** gates/test\\_gold.py: &lt;script&gt;x&lt;/script&gt;" in md


# ---------------------------------------------------------- hostile vendor text


def test_hostile_text_neutralised_in_markdown_and_step_summary(built):
    for name in ("report.md", "summary.md"):
        md = (built["out"] / name).read_text()
        assert HOSTILE not in md
        assert "<script" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
        assert "](http" not in md.replace("](file://", "")  # our own link to the HTML report is the only one
        assert "![x](" not in md and "\\!\\[x\\]" in md
        assert "@org/team" not in md and f"@{ZWJ}org/team" in md
        assert "mallory@example.com" not in md and "\\[email redacted\\]" in md
        assert "=cmd\\|' /C calc'\\!A0" in md  # the pipe cannot split a table cell
        # every table row keeps its column count: escaped pipes do not count
        for block in re.findall(r"((?:^\|.*\|\n)+)", md, flags=re.M):
            widths = {len(re.findall(r"(?<!\\)\|", line)) for line in block.splitlines()}
            assert len(widths) == 1, block[:300]


def test_hostile_text_neutralised_in_html(built):
    page = (built["out"] / "report.html").read_text()
    assert "<script" not in page.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "mallory@example.com" not in page and "[email redacted]" in page
    assert 'href="http://evil' not in page and "<a " not in page  # no workflow run locally: no links at all
    assert re.findall(r'<img [^>]*src="([^"]{0,22})', page) == ["data:image/png;base64,"] * 4
    assert "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">" in page
    assert not re.search(r"""(?:src|href)=["'](?!data:)""", page)  # no external asset of any kind


def test_hostile_text_neutralised_in_csv(built):
    cells = []
    for name in ("gates.csv", "raters.csv", "examples.csv"):
        with open(built["out"] / name, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        assert len(rows) > 1, name
        cells += [c for row in rows[1:] for c in row]
    text_cells = [c for c in cells if not re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", c)]
    assert all(not c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in text_cells)
    assert "'=cmd|' /C calc'!A0 <script>alert(1)</script> ![x](http://evil) @org/team [email redacted]" in cells
    assert "'@org/team" in cells  # the planted rater id
    assert not any("mallory@example.com" in c for c in cells)


def test_chart_labels_keep_a_safe_character_set():
    assert chart_label(HOSTILE) == "=cmd__ /C calc__A0 _scr~"
    assert chart_label("@org/team") == "org/team"
    assert chart_label("mallory@example.com") == "email redacted"


# ---------------------------------------------------------------- mermaid


def _mermaid_blocks(md: str) -> list[list[str]]:
    return [b.strip().splitlines() for b in re.findall(r"```mermaid\n(.*?)```", md, flags=re.S)]


def test_mermaid_charts_are_well_formed(built):
    blocks = _mermaid_blocks((built["out"] / "report.md").read_text())
    assert [b[1].strip() for b in blocks] == ['title "Reward distribution"', 'title "Calibration: observed vs predicted P(chosen wins)"',
                                             'title "Candidate win rate vs baseline per slice"']
    for lines in blocks:
        assert lines[0] == "xychart-beta"
        x_axis = next(line for line in lines if line.strip().startswith("x-axis"))
        labels = re.fullmatch(r'\s*x-axis "[^"]*" \[(.*)\]', x_axis).group(1)
        categories = re.findall(r'"([^"]*)"', labels)
        assert labels == ", ".join(f'"{c}"' for c in categories)
        assert re.fullmatch(r'\s*y-axis "[^"]+" -?[\d.]+ --> [\d.]+', next(line for line in lines if "y-axis" in line))
        series = [line for line in lines if line.strip().startswith(("bar ", "line "))]
        assert series
        for s in series:
            values = re.fullmatch(r"\s*(?:bar|line) \[(.*)\]", s).group(1).split(", ")
            assert len(values) == len(categories)
            [float(v) for v in values]
    reward, calibration, wins = blocks
    bars = [int(v) for v in re.search(r"bar \[(.*)\]", "\n".join(reward)).group(1).split(", ")]
    assert sum(bars) == 2000  # every candidate score is in one bin
    # per-slice win rates from the regression gate's results, worst first
    assert '    x-axis "slice" ["all", "safety", "=cmd__ /C calc__A0 _scr~"]' in wins
    assert "    bar [0.41, 0.52, 0.55]" in wins
    # calibration bins from the calibration gate's details (confidence, accuracy)
    assert '    x-axis "predicted" ["0.05", "0.15", "0.25", "0.35", "0.45", "0.55", "0.65", "0.75", "0.85", "0.95"]' in calibration
    assert "    line [0.09, 0.19, 0.29, 0.39, 0.49, 0.59, 0.69, 0.79, 0.89, 0.99]" in calibration


def test_mermaid_skips_charts_without_data():
    assert mermaid_charts(ReportData()) == []
    one = mermaid_charts(ReportData(reward_scores={"candidate": [0.5, 0.5, float("nan")]}))
    assert len(one) == 1 and "bar [" in one[0]["block"]


# ------------------------------------------------------------------ size limit


def _giant(built_data: ReportData) -> ReportData:
    data = copy.deepcopy(built_data)
    health = data.health[0]
    many = {f"rater-{i:05d}-{HOSTILE}": {"n": 30, "reliability": 0.1, "reasons": [HOSTILE * 3]} for i in range(2000)}
    data.health = [{**health, "flagged_raters": many, "batch_ids": [f"batch-{j}"]} for j in range(30)]
    data.gates = [{"gate": f"gate-{i}", "outcome": "pass" if i % 50 else "fail", "value": 0.5, "threshold": 0.4,
                   "interval": [0.4, 0.6], "n": 100, "details": {"reason": HOSTILE * 5}} for i in range(3000)]
    data.examples = [{"slice": f"s{i % 40}", "prompt": HOSTILE * 8, "candidate": HOSTILE * 8, "baseline": "x",
                      "candidate_score": -i, "baseline_score": 0} for i in range(10000)]
    data.validation = [{"batch_id": f"b{i}", "path": HOSTILE, "accepted": False, "rows": 10,
                        "errors": [{"line": j, "column": "prompt", "kind": "type", "message": HOSTILE} for j in range(200)]} for i in range(300)]
    data.candidate["metrics"] = {f"metric_{i}": float(i) for i in range(1000)}
    data.lineage["batches"] = [{"batch_id": f"b{i}", "vendor": "acme", "sha256": "e" * 64} for i in range(500)]
    return data


def test_giant_report_fits_the_comment_limit(workspace):
    data = collect_report_data(_config(workspace), batches=[workspace / "incoming" / "hostile-001.jsonl"])
    giant = _giant(data)
    md = render_markdown(giant)
    assert utf16_len(md) <= COMMENT_BUDGET
    assert len(comment_marker("report")) + 1 + utf16_len(md) <= COMMENT_MAX_CHARS
    assert md.splitlines()[0].startswith("## ❌ Do not merge: blocked by ")  # the verdict survives condensing
    assert md.splitlines()[0].endswith(" more")
    assert "condensed (level 3) to fit GitHub's comment limit" in md
    assert "<details><summary><b>Lineage</b></summary>" in md
    assert "_… 2940 more passing gates not shown here: see the full HTML report._" in md
    assert "| gate-0 | ❌ fail |" in md and "| gate-1 |" not in md
    assert "@org/team" not in md and "<script" not in md
    summary = render_step_summary(giant)
    assert len(summary.encode()) <= 1024 * 1024 and summary.splitlines()[0] == md.splitlines()[0]


def test_moderately_large_report_collapses_before_dropping_rows(workspace):
    data = collect_report_data(_config(workspace), batches=[workspace / "incoming" / "hostile-001.jsonl"])
    many = {f"rater-{i:04d}": {"n": 30, "reliability": 0.1, "reasons": ["near-random agreement " * 6]} for i in range(300)}
    data.health = [{**data.health[0], "flagged_raters": many} for _ in range(3)]
    data.html_url = "https://github.com/octo-org/alignment-repo/actions/runs/7#artifacts"
    assert utf16_len(render_markdown(data, limit=10**9)) > COMMENT_BUDGET  # level 0 does not fit
    md = render_markdown(data)
    assert utf16_len(md) <= COMMENT_BUDGET
    assert "condensed (level 1) to fit GitHub's comment limit" in md
    assert "<details><summary><b>Label health, agreement and flagged raters</b></summary>" in md
    note = "_… 250 more flagged raters not shown here: see the [full HTML report](https://github.com/octo-org/alignment-repo/actions/runs/7#artifacts)._"
    assert md.count(note) == 3
    assert "| rater-0049 |" in md and "| rater-0050 |" not in md
    assert " · prompt 0: " in md.replace("\\", "")  # row-level examples still shown


# ------------------------------------------------------------------ chromium

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _screenshot(page: Path, png: Path, profile: Path) -> tuple[int, list[str]]:
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
         "--enable-logging=stderr", "--v=0", f"--screenshot={png}", "--window-size=1280,2000", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    return proc.returncode, [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def _png_size(png: Path) -> tuple[int, int]:
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)")
def test_html_report_renders_in_headless_chromium_without_console_errors(built, tmp_path):
    control = tmp_path / "control.html"
    control.write_text("<!DOCTYPE html><html><body><script>console.error('planted-error')</script></body></html>")
    rc, console = _screenshot(control, tmp_path / "control.png", tmp_path / "profile-control")
    assert rc == 0 and any("planted-error" in line for line in console)  # the check can see a console error

    png = tmp_path / "report.png"
    rc, console = _screenshot(built["out"] / "report.html", png, tmp_path / "profile")
    assert rc == 0
    assert console == []
    assert _png_size(png) == (1280, 2000)
    assert png.stat().st_size > 50_000  # charts and tables, not a blank page


def test_report_package_imports_no_pipeline_stage():
    """The renderers import no pipeline stage; report/collect.py, the collector, is the one
    module of the package that reads the stages' outputs."""
    import ast

    package = Path(__file__).resolve().parents[1] / "alignment_ci" / "report"
    imported = set()
    for path in package.glob("*.py"):
        if path.name == "collect.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                imported.add((node.module or "").split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names if a.name.startswith("alignment_ci"))
    assert imported == {"forge", "textsafety"}  # below the report in the layering; no quality/train/gating


def test_the_first_line_names_the_blocking_gates_with_their_outcomes_and_a_first_model():
    from alignment_ci.report.data import verdict_of

    gates = [{"gate": "gold", "outcome": "pass"}, {"gate": "label_quality/acme-1", "outcome": "fail"},
             {"gate": "regression", "outcome": "inconclusive"}, {"gate": "hallucination", "outcome": "skipped"},
             {"gate": "shadowy", "outcome": "fail", "blocking": False}]
    v = verdict_of(gates)
    assert v.headline(first_model=True) == ("❌ Do not merge: first model: no baseline; blocked by "
                                            "label_quality/acme-1 (fail), regression (inconclusive)")
    assert "skipped: hallucination" in v.sentence()
    passing = verdict_of([g for g in gates if g["outcome"] != "fail" and g["outcome"] != "inconclusive"])
    assert passing.headline() == "✅ Merge: every blocking gate passed (1 passed)"
    assert passing.headline(first_model=True).endswith(" · first model: no baseline")
    many = verdict_of([{"gate": f"g{i}", "outcome": "fail"} for i in range(9)])
    assert many.headline().endswith("g5 (fail) and 3 more")
