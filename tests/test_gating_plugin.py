"""The gating plugin's semantics, on small gate files written per test (no models):
shadow gates, inconclusive, repeat/min_pass, the result files, errors in gate files."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from alignment_ci.gating.context import GateOptions
from alignment_ci.gating.runner import run_gates


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty repository: no alignment.yaml, no store, no runs."""
    monkeypatch.chdir(tmp_path)
    for var in ("ALIGNMENT_CI_CANDIDATE", "ALIGNMENT_CI_CANDIDATE_RM", "ALIGNMENT_CI_BASELINE", "ALIGNMENT_CI_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def write_gates(root: Path, files: dict[str, str]) -> Path:
    gates = root / "gates"
    gates.mkdir(exist_ok=True)
    for name, body in files.items():
        (gates / name).write_text("import pytest\nfrom alignment_ci.gating import Decision\n\n" + textwrap.dedent(body))
    return gates


def run(root: Path, files: dict[str, str], settings: dict | None = None, **options: str):
    gates = write_gates(root, files)
    settings_file = None
    if settings is not None:
        settings_file = root / "gates-settings.json"
        settings_file.write_text(json.dumps(settings))
    opts = GateOptions(results_dir=str(root / "out"), gates_settings=str(settings_file) if settings_file else None,
                       **options)
    return run_gates(opts, gates_dir=gates, builtin=False)


def by_gate(report) -> dict:
    return {r.gate: r for r in report.results}


SHADOW = """
@pytest.mark.gate("strict")
def test_strict(gate):
    gate.record(Decision("pass", "fine", value=1.0, threshold=0.5, n=10))

@pytest.mark.gate("experimental", blocking=False)
def test_experimental(gate):
    gate.record(Decision("fail", "too low", value=0.1, threshold=0.5, n=10))
"""


def test_a_failing_shadow_gate_is_reported_but_does_not_block(workdir):
    result = run(workdir, {"test_shadow_gates.py": SHADOW})
    gates = by_gate(result.report)
    assert result.report.verdict == "pass" and result.exit_code == 0
    assert (gates["experimental"].outcome, gates["experimental"].blocking, gates["experimental"].blocks) == ("fail", False, False)
    assert gates["strict"].outcome == "pass"
    assert result.pytest_exit_code == 0  # pytest agrees: the shadow failure is an xfail
    junit = ET.parse(workdir / "out" / "gates.junit.xml").getroot()
    case = junit.find(".//testcase[@name='experimental']")
    assert case.find("failure") is None
    assert case.find("skipped").get("message") == "shadow fail: too low"


def test_gate_names_in_the_shadow_setting_become_shadow_gates(workdir):
    body = SHADOW.replace('"experimental", blocking=False', '"experimental"')
    blocked = run(workdir, {"test_shadow_setting.py": body})
    assert blocked.report.verdict == "fail"
    shadowed = run(workdir, {"test_shadow_setting.py": body}, settings={"shadow": ["experimental"]})
    assert shadowed.report.verdict == "pass"
    assert by_gate(shadowed.report)["experimental"].blocking is False


INCONCLUSIVE = """
@pytest.mark.gate("thin")
def test_thin(gate):
    gate.inconclusive("only 3 gold pairs, 20 needed")
"""


def test_inconclusive_blocks_by_default(workdir):
    result = run(workdir, {"test_thin_default.py": INCONCLUSIVE})
    thin = by_gate(result.report)["thin"]
    assert (thin.outcome, thin.blocks, thin.reason) == ("inconclusive", True, "only 3 gold pairs, 20 needed")
    assert (result.report.verdict, result.exit_code, result.pytest_exit_code) == ("fail", 1, 1)
    case = ET.parse(workdir / "out" / "gates.junit.xml").getroot().find(".//testcase[@name='thin']")
    assert case.find("error").get("type") == "inconclusive"


def test_inconclusive_does_not_block_when_configured(workdir):
    result = run(workdir, {"test_thin_configured.py": INCONCLUSIVE}, settings={"inconclusive_blocks": False})
    thin = by_gate(result.report)["thin"]
    assert (thin.outcome, thin.blocks) == ("inconclusive", False)
    assert (result.report.verdict, result.exit_code, result.pytest_exit_code) == ("pass", 0, 0)


FLAKY = """
@pytest.mark.gate("flaky", repeat=3, min_pass={min_pass})
def test_flaky(gate):
    # passes on seeds 0 and 2, fails on seed 1: two runs of three pass
    ok = gate.seed % 2 == 0
    gate.record(Decision("pass" if ok else "fail", f"seed {{gate.seed}}", value=float(gate.seed), n=1))
"""


def test_a_flaky_gate_fails_when_every_run_must_pass(workdir):
    result = run(workdir, {"test_flaky_all.py": FLAKY.format(min_pass=3)})
    flaky = by_gate(result.report)["flaky"]
    assert flaky.outcome == "fail"
    assert [r["outcome"] for r in flaky.details["runs"]] == ["pass", "fail", "pass"]
    assert flaky.reason == "passed 2 of 3 runs (at least 3 must pass); last: seed 1"
    assert result.report.verdict == "fail"


def test_a_flaky_gate_passes_with_min_pass_two_of_three(workdir):
    result = run(workdir, {"test_flaky_two.py": FLAKY.format(min_pass=2)})
    flaky = by_gate(result.report)["flaky"]
    assert flaky.outcome == "pass"
    assert flaky.reason == "passed 2 of 3 runs (at least 2 must pass); last: seed 2"
    assert result.report.verdict == "pass"


def test_repeat_defaults_come_from_the_settings(workdir):
    body = FLAKY.replace(", repeat=3, min_pass={min_pass}", "")
    result = run(workdir, {"test_flaky_settings.py": body}, settings={"repeat": 3, "min_pass": 1, "seed": 1})
    flaky = by_gate(result.report)["flaky"]
    # seeds 1, 2, 3: only seed 2 passes, and one pass is enough
    assert [r["value"] for r in flaky.details["runs"]] == [1.0, 2.0, 3.0]
    assert flaky.outcome == "pass"


MIXED = """
@pytest.mark.gate("gold")
def test_gold(gate):
    gate.record(Decision("pass", "accuracy 0.95", value=0.95, threshold=0.7, interval=(0.85, 0.99), n=48), part="helpfulness")
    gate.record(Decision("fail", "accuracy 0.40", value=0.40, threshold=0.7, interval=(0.27, 0.55), n=48), part="safety")

@pytest.mark.gate("asserting")
def test_asserting():
    accuracy = 0.5
    assert accuracy >= 0.7, "accuracy 0.5 is below 0.7"

@pytest.mark.gate("crashing")
def test_crashing():
    raise RuntimeError("model file truncated")

@pytest.mark.gate("not_for_this_candidate")
def test_not_applicable(gate):
    gate.not_applicable("the candidate has no policy")

def test_unmarked_check():
    assert 1 + 1 == 2
"""


def test_results_json_and_junit_are_written_when_gates_fail(workdir):
    result = run(workdir, {"test_mixed.py": MIXED})
    assert result.report.verdict == "fail"
    data = json.loads((workdir / "out" / "gates.json").read_text())
    rows = {g["gate"]: g for g in data["gates"]}
    assert list(rows) == ["gold/helpfulness", "gold/safety", "asserting", "crashing", "not_for_this_candidate",
                          "unmarked_check"]
    assert rows["gold/safety"] | {"details": None, "duration_s": None} == {
        "gate": "gold/safety", "outcome": "fail", "blocking": True, "reason": "accuracy 0.40", "value": 0.4,
        "threshold": 0.7, "interval": [0.27, 0.55], "n": 48, "details": None, "blocks": True,
        "nodeid": "test_mixed.py::test_gold", "duration_s": None,
    }
    assert rows["asserting"]["outcome"] == "fail"
    assert rows["asserting"]["reason"].startswith("accuracy 0.5 is below 0.7")
    assert rows["crashing"]["reason"] == "the gate raised RuntimeError: model file truncated"
    assert (rows["not_for_this_candidate"]["outcome"], rows["not_for_this_candidate"]["blocks"]) == ("skipped", False)
    assert rows["unmarked_check"]["outcome"] == "pass"
    assert data["counts"] == {"pass": 2, "fail": 3, "inconclusive": 0, "skipped": 1, "blocking": 3}

    junit = ET.parse(workdir / "out" / "gates.junit.xml").getroot()
    assert (junit.get("tests"), junit.get("failures"), junit.get("errors"), junit.get("skipped")) == ("6", "3", "0", "1")
    gold_safety = junit.find(".//testcase[@name='gold/safety']")
    assert gold_safety.find("failure").get("message") == "accuracy 0.40"
    props = {p.get("name"): p.get("value") for p in gold_safety.find("properties")}
    assert props == {"outcome": "fail", "blocking": "true", "value": "0.4", "threshold": "0.7", "n": "48",
                     "interval_low": "0.27", "interval_high": "0.55"}


def test_a_gate_file_that_does_not_import_makes_the_verdict_fail(workdir):
    files = {"test_fine.py": SHADOW, "test_broken.py": "import not_a_module_anywhere\n"}
    result = run(workdir, files)
    assert result.report.verdict == "fail"
    assert len(result.report.errors) == 1
    assert result.report.errors[0].startswith("test_broken.py: could not be collected")
    assert "not_a_module_anywhere" in result.report.errors[0]
    # the gates that could be collected still ran and are reported
    assert {r.gate: r.outcome for r in result.report.results} == {"strict": "pass", "experimental": "fail"}
    assert json.loads((workdir / "out" / "gates.json").read_text())["verdict"] == "fail"


NEEDS_RM = """
@pytest.mark.gate("gold")
def test_gold(reward_model, gate):
    gate.record(Decision("pass", "unreachable"))
"""


def test_no_candidate_makes_model_gates_inconclusive_with_the_reason(workdir):
    result = run(workdir, {"test_needs_rm.py": NEEDS_RM})
    gold = by_gate(result.report)["gold"]
    assert gold.outcome == "inconclusive"
    assert gold.reason.startswith("no candidate: no candidate given: pass --candidate CANDIDATE (a candidate id or a "
                                  "run key), or --candidate-rm DIR")
    assert result.report.candidate["problem"] is not None
    assert result.report.verdict == "fail"


def test_a_candidate_without_a_reward_model_makes_reward_model_gates_inconclusive(workdir, tmp_path):
    """A gate that cannot run because the candidate lacks its model blocks: never a quiet skip."""
    policy = tmp_path / "policy"
    policy.mkdir()
    (policy / "config.json").write_text("{}")
    result = run(workdir, {"test_needs_rm_policy_only.py": NEEDS_RM}, candidate_policy=str(policy))
    gold = by_gate(result.report)["gold"]
    assert (gold.outcome, gold.blocks) == ("inconclusive", True)
    assert gold.reason.startswith(f"the candidate (--candidate-policy {policy}) has no reward model: pass the "
                                  "candidate record")
    assert result.report.verdict == "fail"


def test_a_missing_run_key_names_it(workdir):
    result = run(workdir, {"test_needs_rm_run.py": NEEDS_RM}, candidate="deadbeef" * 8)
    gold = by_gate(result.report)["gold"]
    assert gold.outcome == "inconclusive"
    assert f"--candidate {'deadbeef' * 8}" in gold.reason


def test_a_plain_test_session_with_the_plugin_writes_no_report(workdir):
    (workdir / "plain").mkdir()
    (workdir / "plain" / "test_plain_only.py").write_text("def test_x():\n    assert True\n")
    code = pytest.main([str(workdir / "plain"), "-p", "no:alignment_ci", "-p", "alignment_ci.gating.plugin",
                        "-p", "no:cacheprovider", "-q", "--import-mode=importlib",
                        f"--results-dir={workdir / 'out'}"])
    assert code == 0
    assert not (workdir / "out").exists()


def test_runs_from_two_directories_with_the_same_file_name_do_not_share_modules(workdir):
    first = workdir / "one"
    second = workdir / "two"
    first.mkdir()
    second.mkdir()
    a = run(first, {"test_same_name.py": SHADOW})
    b = run(second, {"test_same_name.py": INCONCLUSIVE})
    assert [r.gate for r in a.report.results] == ["strict", "experimental"]
    assert [r.gate for r in b.report.results] == ["thin"]


OVERRIDE = """
@pytest.mark.gate("hallucination")
def test_my_hallucination(gate):
    gate.record(Decision("pass", "the repository's own rule"))
"""


def test_a_repository_gate_replaces_the_built_in_of_the_same_name_and_config_turns_gates_off(workdir):
    gates = write_gates(workdir, {"test_override.py": OVERRIDE})
    settings = workdir / "gates-settings.json"
    settings.write_text(json.dumps({"disabled": ["gold", "calibration", "regression", "reward_hacking", "safety",
                                                 "label_quality", "policy_health", "policy_winrate"]}))
    result = run_gates(GateOptions(results_dir=str(workdir / "out"), gates_settings=str(settings)), gates_dir=gates)
    rows = by_gate(result.report)
    # the repository's hallucination gate ran instead of the built-in one (which would skip: no flags)
    assert (rows["hallucination"].outcome, rows["hallucination"].reason) == ("pass", "the repository's own rule")
    assert rows["hallucination"].nodeid == "test_override.py::test_my_hallucination"
    assert [r.gate for r in result.report.results].count("hallucination") == 1
    # turned-off gates are listed as skipped with the setting as the reason, and never block
    assert (rows["gold"].outcome, rows["gold"].blocks) == ("skipped", False)
    assert rows["gold"].reason == "turned off in alignment.yaml (gates.disabled lists 'gold')"
    assert result.report.verdict == "pass"


def test_builtin_false_reports_every_built_in_as_skipped(workdir):
    gates = write_gates(workdir, {"test_own.py": SHADOW})
    settings = workdir / "gates-settings.json"
    settings.write_text(json.dumps({"builtin": False}))
    result = run_gates(GateOptions(results_dir=str(workdir / "out"), gates_settings=str(settings)), gates_dir=gates)
    rows = by_gate(result.report)
    assert {rows[g].outcome for g in ("gold", "calibration", "regression", "safety")} == {"skipped"}
    assert rows["gold"].reason == "built-in gates are turned off in alignment.yaml (gates.builtin: false)"
    assert (rows["strict"].outcome, rows["experimental"].outcome) == ("pass", "fail")
    assert result.report.verdict == "pass"


def test_the_built_in_gates_run_without_a_gates_directory(workdir):
    result = run_gates(GateOptions(results_dir=str(workdir / "out")))
    rows = by_gate(result.report)
    assert "gold" in rows and rows["gold"].outcome == "inconclusive"
    assert result.report.verdict == "fail"
