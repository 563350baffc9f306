"""AI-assisted raters: critic scores, disagreement triage, critic agreement, anchoring, prefill."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from alignment_ci.cli import app
from alignment_ci.config import Config, CriticSettings
from alignment_ci.data.validate import validate_file
from alignment_ci.errors import InputError
from alignment_ci.formats.argilla import read_argilla_export
from alignment_ci.formats.labelstudio import labeling_config, read_labelstudio_export
from alignment_ci.formats.prefill import argilla_records, labelstudio_tasks, suggestions
from alignment_ci.quality.critic import anchoring, calibration_scale, critic_agreement, critic_view, triage
from alignment_ci.synth import labelstudio_export, make_planted_batch, preference_pairs, write_jsonl

SETTINGS = CriticSettings()


def truth_scores(truth: dict[str, str], *, noise: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """Scores of an imperfect critic that knows the truth: the better answer scores 2 ± noise higher."""
    rng = np.random.default_rng(seed)
    rows = []
    for item, answer in truth.items():
        margin = 2.0 + rng.normal(0, noise)
        a, b = (margin, 0.0) if answer == "a" else (0.0, margin)
        rows += [{"item_id": item, "response": "a", "score": a}, {"item_id": item, "response": "b", "score": b}]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def critic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real critic: a tiny reward model trained on synthetic pairs in the batches' style."""
    import torch

    from alignment_ci.train.specs import TrainingSettings
    from alignment_ci.train.stages import run_stage
    from alignment_ci.train.tiny import build_tiny_model

    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("critic")
    base = build_tiny_model(d / "tiny", seed=0)
    return run_stage(TrainingSettings().job("reward"), preference_pairs(160, seed=1000), d / "rm", {"base": base}).model_dir


def test_triage_puts_a_confident_contradiction_first() -> None:
    rows = []
    for item, votes in {"i1": "aaaab", "i2": "aabbb", "i3": "aaaaa"}.items():
        rows += [{"item_id": item, "rater_id": f"r{k}", "dimension": "helpfulness", "task_type": "pairwise", "prompt": "p",
                  "response_a": f"{item}-a", "response_b": f"{item}-b", "choice": c} for k, c in enumerate(votes)]
    df = pd.DataFrame(rows)
    scores = pd.DataFrame([
        {"item_id": "i1", "response": "a", "score": 0.0}, {"item_id": "i1", "response": "b", "score": 3.0},  # contradicts
        {"item_id": "i2", "response": "a", "score": 0.1}, {"item_id": "i2", "response": "b", "score": 0.0},  # unsure, split
        {"item_id": "i3", "response": "a", "score": 3.0}, {"item_id": "i3", "response": "b", "score": 0.0},  # agrees
    ])
    ranked = triage(df, scores, SETTINGS)
    assert ranked["item_id"].tolist() == ["i1", "i2", "i3"]
    assert ranked["category"].tolist() == ["contradicts", "unsure_split", "other"]
    assert ranked.loc[0, "reason"] == "humans chose a (80% of 5 raters); the critic prefers b with p = 0.95"
    assert ranked["rank"].tolist() == [1, 2, 3]


def test_calibration_is_fitted_on_gold_only_when_there_is_enough() -> None:
    margins = pd.Series(np.linspace(-2, 2, 40), index=[f"i{k}" for k in range(40)])
    gold = pd.Series(np.where(margins > 0, "a", "b"), index=margins.index)
    gold.iloc[[5, 30]] = np.where(gold.iloc[[5, 30]] == "a", "b", "a")  # two noisy gold labels: finite MLE
    scale, used = calibration_scale(margins, gold, SETTINGS)
    assert used == 40 and scale > 1.0  # a sharp separation on gold: the raw margin is under-confident
    assert calibration_scale(margins, gold.iloc[:5], SETTINGS) == (1.0, 5)  # too few gold items: raw margins


def test_triage_with_a_real_critic_surfaces_planted_label_errors(critic_dir: Path) -> None:
    from alignment_ci.evals.critics import RewardCritic, score_frame

    careful = {f"r{i:02d}": "careful" for i in range(1, 11)}  # the only wrong consensus is the planted one
    planted = make_planted_batch(batch_id="t", n_items=300, flip_share=0.05, seed=3, roles=careful)
    df = pd.DataFrame(planted.rows)
    scores = score_frame(df, RewardCritic(critic_dir))
    assert set(scores["response"]) == {"a", "b"} and len(scores) == 2 * df["item_id"].nunique()
    ranked = triage(df, scores, SETTINGS)
    budget = 30  # 10% of the items
    top = set(list(dict.fromkeys(ranked["item_id"]))[:budget])
    random_top = set(random.Random(0).sample(sorted(df["item_id"].unique()), budget))
    assert len(planted.flipped) >= 5
    assert len(planted.flipped & top) >= 0.8 * len(planted.flipped)
    assert len(planted.flipped & top) >= 3 * max(1, len(planted.flipped & random_top))


def test_critic_agreement_flags_the_rater_against_both_consensus_and_critic() -> None:
    planted = make_planted_batch(batch_id="t", n_items=200, seed=1)
    df = pd.DataFrame(planted.rows)
    report = critic_agreement(df, truth_scores(planted.truth), SETTINGS)
    assert 0.8 < report["dimensions"]["helpfulness"]["agreement"] < 1.0  # the planted bad raters sway some consensus
    assert "r08" in report["flagged_raters"]  # the adversarial rater
    assert not {"r01", "r02", "r03", "r04", "r05", "r06"} & set(report["flagged_raters"])
    reason = report["raters"]["r08"]["reason"]
    assert reason.startswith("disagreed with both the consensus and a confident critic on ")
    assert report["calibration"]["gold_items"] > 0


def test_anchoring_catches_the_always_accept_rater_only() -> None:
    roles = {f"r{i:02d}": "careful" for i in range(1, 11)}
    roles["r10"] = "always_accept"
    first = make_planted_batch(batch_id="t", n_items=200, gold_share=0.4, roles=roles, seed=2)
    df = pd.DataFrame(first.rows)
    view = critic_view(df, truth_scores(first.truth), SETTINGS)
    config = Config.model_validate({"critic": {"anchoring": {"wrong_suggestion_rate": 0.5}}})
    sugg = suggestions(df, view, config)
    assert sugg["wrong_probe"].sum() > 0
    shown = {r.item_id: r.suggestion for r in sugg.itertuples() if r.mode == "prefill"}
    second = make_planted_batch(batch_id="t", n_items=200, gold_share=0.4, roles=roles, seed=2, suggestions=shown)
    assert [r["item_id"] for r in second.rows] == [r["item_id"] for r in first.rows]  # same batch, now prefilled
    report = anchoring(pd.DataFrame(second.rows), config.critic)
    assert report["flagged_raters"] == ["r10"]
    r10 = report["raters"]["r10"]
    assert r10["reason"] == f"accepted {r10['accepted']} of {r10['wrong_shown']} wrong suggestions on gold items"
    assert r10["accepted"] == r10["wrong_shown"]


def test_critical_dimensions_get_a_hint_never_a_preselected_answer() -> None:
    planted = make_planted_batch(batch_id="t", n_items=40, dimensions=["helpfulness", "safety"], seed=4)
    df = pd.DataFrame(planted.rows)
    config = Config()
    sugg = suggestions(df, critic_view(df, truth_scores(planted.truth), SETTINGS), config)
    safety = sugg[sugg["dimension"] == "safety"]
    assert (safety["mode"] == "hint").all() and safety["suggestion"].isna().all()
    assert safety["hint"].str.contains("only a hint").all()
    tasks = labelstudio_tasks(df, sugg, "critic-x")
    for task in tasks:
        if task["data"]["dimension"] == "safety":
            assert "predictions" not in task and "suggestion" not in task["data"] and task["data"]["critic_hint"]
    none = Config.model_validate({"critic": {"critical_prefill": "none"}})
    assert (suggestions(df, critic_view(df, truth_scores(planted.truth), SETTINGS), none).query("dimension == 'safety'")["hint"].isna()).all()


def test_labelstudio_predictions_follow_the_import_format_and_come_back(tmp_path: Path) -> None:
    planted = make_planted_batch(batch_id="ls-pre", n_items=60, dimensions=["helpfulness"], gold_share=0.3, seed=5)
    df = pd.DataFrame(planted.rows)
    config = Config()
    sugg = suggestions(df, critic_view(df, truth_scores(planted.truth), SETTINGS), config)
    tasks = labelstudio_tasks(df, sugg, "alignment-ci-reward-abc")
    xml = ET.fromstring(labeling_config(config.taxonomy, "helpfulness"))
    control = xml.find(".//Choices[@name='helpfulness']")
    allowed = {c.get("value") for c in control.findall("Choice")}
    for task in tasks:
        (pred,) = task["predictions"]
        assert pred["model_version"] == "alignment-ci-reward-abc" and 0.5 <= pred["score"] <= 1.0
        (result,) = pred["result"]
        assert result["from_name"] == control.get("name") and result["to_name"] == control.get("toName")
        assert result["type"] == "choices" and result["value"]["choices"][0] in allowed
        assert {"prompt", "response_a", "response_b"} <= set(task["data"])
    shown = {t["data"]["item_id"]: t["data"]["suggestion"] for t in tasks}
    judged = make_planted_batch(batch_id="ls-pre", n_items=60, dimensions=["helpfulness"], gold_share=0.3, seed=5,
                                suggestions=shown)
    export = labelstudio_export(judged.rows, tasks)
    back = read_labelstudio_export(export, "ls-pre", dimension="helpfulness", dimensions=config.taxonomy.names)
    got = pd.DataFrame(back.rows)
    assert got["suggestion"].notna().all()
    assert dict(zip(got["item_id"], got["suggestion"])) == shown
    # the plain export lists predictions by id only: data.suggestion still carries it
    plain = [dict(t, predictions=[7]) for t in export]
    again = pd.DataFrame(read_labelstudio_export(plain, "ls-pre", dimension="helpfulness").rows)
    assert dict(zip(again["item_id"], again["suggestion"])) == shown
    write_jsonl(back.rows, tmp_path / "b.jsonl")
    assert validate_file(tmp_path / "b.jsonl", config).accepted


def test_argilla_suggestions_follow_the_record_format_and_come_back() -> None:
    planted = make_planted_batch(batch_id="ar", n_items=20, dimensions=["helpfulness"], seed=6)
    df = pd.DataFrame(planted.rows)
    sugg = suggestions(df, critic_view(df, truth_scores(planted.truth), SETTINGS), Config())
    records = argilla_records(df, sugg, "critic-y")
    for rec in records:
        (s,) = rec["suggestions"]
        assert set(s) == {"question_name", "value", "score", "agent"} and s["agent"] == "critic-y"
        assert s["question_name"] == "helpfulness" and s["value"] in ("a", "b")
        rec["responses"] = {"helpfulness": [{"value": s["value"], "user_id": "u1", "status": "submitted"},
                                            {"value": "b", "user_id": "u2", "status": "submitted"}]}
    back = pd.DataFrame(read_argilla_export(records, "ar", dimensions=["helpfulness"]).rows)
    expected = {r["id"]: r["suggestions"][0]["value"] for r in records}
    assert dict(zip(back["item_id"], back["suggestion"])) == expected
    flat = [{"prompt": r["fields"]["prompt"], "response_a": r["fields"]["response_a"], "response_b": r["fields"]["response_b"],
             "id": r["id"], "helpfulness.suggestion": "a", "helpfulness.responses": ["b"],
             "helpfulness.responses.users": ["u3"], "helpfulness.responses.status": ["submitted"]} for r in records]
    assert set(pd.DataFrame(read_argilla_export(flat, "ar").rows)["suggestion"]) == {"a"}


def test_validate_rejects_a_suggestion_outside_a_b_tie(tmp_path: Path) -> None:
    rows = make_planted_batch(batch_id="v", n_items=4, seed=0).rows
    rows[2]["suggestion"] = "A"
    rows[0]["suggestion"] = "b"
    report = validate_file(write_jsonl(rows, tmp_path / "v.jsonl"), Config())
    assert not report.accepted
    (err,) = report.errors
    assert (err.line, err.column) == (3, "suggestion") and "'A'" in err.message


def test_critic_commands_score_triage_prefill_and_review(tmp_path: Path, critic_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    planted = make_planted_batch(batch_id="cli-batch", n_items=60, flip_share=0.1, dimensions=["helpfulness"], seed=8)
    batch = write_jsonl(planted.rows, tmp_path / "batch.jsonl")
    assert runner.invoke(app, ["ingest", str(batch), "--vendor", "acme"]).exit_code == 0

    res = runner.invoke(app, ["critic", "score", str(batch), "--critic", str(critic_dir), "--out", "scores.jsonl", "--format", "json"])
    assert res.exit_code == 0, res.output
    scored = json.loads(res.stdout)
    assert scored["items"] == 60 and scored["critic"]["kind"] == "model" and len(scored["critic"]["revision"]) == 64
    manifest = yaml.safe_load(Path(scored["manifest"]).read_text())
    (entry,) = manifest["critic_scores"]
    assert entry["sha256"] == scored["sha256"] and entry["critic"]["model"] == str(critic_dir)
    lineage = runner.invoke(app, ["lineage", "show", scored["sha256"], "--format", "json"])
    assert lineage.exit_code == 0 and "critic" in lineage.stdout

    res = runner.invoke(app, ["critic", "triage", str(batch), "--scores", "scores.jsonl", "--out", "ranking.jsonl", "--format", "json"])
    assert res.exit_code == 0, res.output
    ranking = [json.loads(line) for line in Path("ranking.jsonl").read_text().splitlines()]
    assert [r["rank"] for r in ranking] == list(range(1, len(ranking) + 1))
    assert ranking[0]["item_id"] in planted.flipped

    res = runner.invoke(app, ["critic", "prefill", str(batch), "--scores", "scores.jsonl", "--tool", "labelstudio", "--out", "ls.json"])
    assert res.exit_code == 0, res.output
    assert "60 labelstudio item(s)" in res.stdout
    assert all(t["predictions"][0]["model_version"].startswith(str(critic_dir)) for t in json.loads(Path("ls.json").read_text()))

    res = runner.invoke(app, ["critic", "review", str(batch), "--scores", "scores.jsonl", "--format", "json"])
    assert res.exit_code == 1  # the planted adversarial rater disagrees with both the consensus and the critic
    assert "r08" in json.loads(res.stdout)["flagged_raters"]

    bad = runner.invoke(app, ["critic", "score", str(batch), "--critic", "no-such-model-anywhere"])
    assert isinstance(bad.exception, InputError) and bad.exception.exit_code == 2  # main() prints it and exits 2
    assert "not in the local Hugging Face cache" in str(bad.exception)


def test_adjudication_and_audits_take_the_critic_ranking(tmp_path: Path) -> None:
    from alignment_ci.monitor.audit import audit_candidates
    from alignment_ci.quality.adjudicate import adjudication_list
    from alignment_ci.quality.critic import read_ranking

    careful = {f"r{i:02d}": "careful" for i in range(1, 11)}
    planted = make_planted_batch(batch_id="adj", n_items=120, flip_share=0.1, dimensions=["helpfulness"], seed=9, roles=careful)
    df = pd.DataFrame(planted.rows)
    ranked = triage(df, truth_scores(planted.truth), SETTINGS)
    path = tmp_path / "ranking.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in json.loads(ranked.to_json(orient="records"))))
    ranking = read_ranking(path)
    assert ranking["item_id"].tolist() == ranked["item_id"].tolist()

    plain = adjudication_list(df, Config())
    assert plain == []  # helpfulness is not critical: nothing to adjudicate without a critic
    listed = adjudication_list(df, Config(), ranking=ranking)
    contradicted = set(ranked.loc[ranked["category"] == "contradicts", "item_id"])
    assert {e["item_id"] for e in listed} == contradicted and contradicted & planted.flipped
    assert all(e["reason"] == "critic" and e["critic"].startswith("humans chose") for e in listed)

    labels = df.assign(vendor="acme")
    top = audit_candidates(labels, n=10, ranking=ranking)
    first_items = {c["audit_of"]["item_id"] for c in top}
    assert first_items <= set(ranked["item_id"].head(3)) and "critic disagreement" in top[0]["reason"]
    assert {c["audit_of"]["item_id"] for c in audit_candidates(labels, n=10, seed=1)} != first_items

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"item_id": "x"}\n')
    with pytest.raises(InputError, match="bad.jsonl:1: a ranking line needs item_id, dimension and rank"):
        read_ranking(bad)


def test_label_health_shows_critic_agreement_top_disagreements_and_anchoring() -> None:
    from alignment_ci.quality.health import label_health
    from alignment_ci.report.render import render_health_markdown as health_markdown

    roles = {**{f"r{i:02d}": "careful" for i in range(1, 11)}, "r10": "always_accept"}
    first = make_planted_batch(batch_id="h", n_items=150, gold_share=0.4, flip_share=0.05, roles=roles,
                               dimensions=["helpfulness"], seed=12)
    df = pd.DataFrame(first.rows)
    scores = truth_scores(first.truth)
    config = Config.model_validate({"critic": {"anchoring": {"wrong_suggestion_rate": 0.6}}})
    sugg = suggestions(df, critic_view(df, scores, SETTINGS), config)
    shown = {r.item_id: r.suggestion for r in sugg.itertuples()}
    df = pd.DataFrame(make_planted_batch(batch_id="h", n_items=150, gold_share=0.4, flip_share=0.05, roles=roles,
                                         dimensions=["helpfulness"], seed=12, suggestions=shown).rows)
    health = label_health(df, config, bootstrap_samples=20, critic_scores=scores)
    assert health["critic"]["contradictions"] >= 1
    top_items = {t["item_id"] for t in health["critic"]["top_disagreements"]}
    assert top_items and top_items <= first.flipped | set(df["item_id"])
    assert top_items & first.flipped
    assert list(health["anchoring"]["flagged_raters"]) == ["r10"]
    md = health_markdown(health)
    assert "**Critic**" in md and "critic agrees with the consensus" in md
    assert "Rater r10: accepted " in md and "wrong suggestions on gold items" in md
    without = label_health(df.drop(columns=["suggestion"]), config, bootstrap_samples=20)
    assert "critic" not in without and "anchoring" not in without


def test_pr_report_health_reads_the_critic_scores_stored_beside_the_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alignment_ci.config import load_config
    from alignment_ci.evals.critics import score_batch
    from alignment_ci.report.collect import batch_summaries

    monkeypatch.chdir(tmp_path)
    planted = make_planted_batch(batch_id="rep-batch", n_items=80, flip_share=0.1, dimensions=["helpfulness"], seed=13)
    batch = write_jsonl(planted.rows, tmp_path / "b.jsonl")
    assert CliRunner().invoke(app, ["ingest", str(batch), "--vendor", "acme"]).exit_code == 0
    config = load_config(None)

    class TruthCritic:
        identity = {"kind": "model", "model": "truth", "revision": "0"}

        def score(self, prompts, responses):  # noqa: ANN001, ANN202 - the Critic protocol
            good = {r["response_a"] if planted.truth[r["item_id"]] == "a" else r["response_b"] for r in planted.rows}
            return np.array([2.0 if r in good else 0.0 for r in responses])

    stored = score_batch(config, pd.DataFrame(planted.rows), TruthCritic(), batch_id="rep-batch")
    assert stored.sha256 and stored.manifest is not None
    _, (health,) = batch_summaries(config, [batch])
    assert health["critic"]["contradictions"] >= 1
    assert {t["item_id"] for t in health["critic"]["top_disagreements"]} & planted.flipped


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_bridge_serves_the_critic_suggestion_only_when_asked(tmp_path: Path, backend: str) -> None:
    from alignment_ci.formats.prefill import queue_items
    from alignment_ci.monitor import queue as q
    from rater_bridge.testing import fresh_database_url
    from tests.test_bridge import make_env

    url = fresh_database_url(backend, tmp_path)
    if url is None:
        pytest.skip("set ALIGNMENT_CI_TEST_PG_URL to run the bridge against PostgreSQL")
    planted = make_planted_batch(batch_id="q", n_items=12, dimensions=["helpfulness", "safety"], gold_share=0.3, seed=14)
    df = pd.DataFrame(planted.rows)
    sugg = suggestions(df, critic_view(df, truth_scores(planted.truth), SETTINGS), Config())
    items = queue_items(df, sugg, "critic-z")
    assert any(i.get("is_gold") for i in items)
    env = make_env(tmp_path, url, gold_rate=0.5)
    try:
        with q.session_scope(env.engine) as s:
            assert len(q.enqueue(s, items).ids) >= len(items)
        plain = env.client.get("/v1/tasks", params={"rater_id": "r1", "n": 4}, headers=env.auth("acme")).json()["tasks"]
        assert plain and all(t["suggestion"] is None for t in plain)
        served = env.client.get("/v1/tasks", params={"rater_id": "r2", "n": 8, "suggestions": "true"},
                                headers=env.auth("acme")).json()["tasks"]
        real = [t for t in served if t["phase"] == "task"]
        assert real
        for t in real:
            if t["dimension"] == "safety":  # critical: a hint in words, never a preselected answer
                assert set(t["suggestion"]) == {"hint"} and "only a hint" in t["suggestion"]["hint"]
            else:
                assert t["suggestion"]["answer"] in ("a", "b") and t["suggestion"]["model_version"] == "critic-z"
    finally:
        env.client.close()
        env.app.state.bridge.dispose()
    with q.session_scope(env.engine) as s, pytest.raises(InputError, match="suggestion must be an object"):
        q.enqueue(s, [dict(items[0], item_id="bad", suggestion="a")])
