"""Vendor input: import --dimension checked at import, errors on imported data naming the
export's record, a column map for vendor CSVs with "did you mean" hints, and no spurious
warning when a stored batch is validated again."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from alignment_ci.synth import make_pairwise_batch, write_jsonl

from .test_cli import run_cli


def _task(task_id: int, prompt: str, raters: tuple[int, ...] = (7, 8)) -> dict:
    return {"id": task_id, "data": {"prompt": prompt, "answer1": "Boil it for 9 minutes.", "answer2": "Eggs are birds."},
            "annotations": [{"id": n, "completed_by": r, "result": [{"type": "pairwise", "value": {"selected": "left"}}]}
                            for n, r in enumerate(raters, start=1)]}


def test_import_refuses_a_dimension_outside_the_taxonomy(tmp_path):
    export = tmp_path / "export.json"
    export.write_text(json.dumps([_task(1, "How do I boil an egg?")]))
    result = run_cli("import", "labelstudio", str(export), "--batch-id", "b1", "--out", str(tmp_path / "b.jsonl"),
                     "--dimension", "helpfulnes", cwd=tmp_path)
    assert result.returncode == 2
    assert "'helpfulnes' is not in the taxonomy" in result.stderr and "did you mean `helpfulness`" in result.stderr
    assert not (tmp_path / "b.jsonl").exists()


def test_errors_on_imported_data_name_the_label_studio_task(tmp_path):
    export = tmp_path / "export.json"
    export.write_text(json.dumps([_task(1001, "How do I boil an egg?"), _task(1002, "   ")]))
    out = tmp_path / "b.jsonl"
    result = run_cli("import", "labelstudio", str(export), "--batch-id", "b1", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "line 3 (Label Studio task 1002, annotation 1, rater ls-7)" in result.stderr
    assert "line 4 (Label Studio task 1002, annotation 2, rater ls-8)" in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".b.jsonl.*"))
    data = json.loads(run_cli("import", "labelstudio", str(export), "--batch-id", "b1", "--out", str(out),
                              "--format", "json", cwd=tmp_path).stdout)
    assert data["accepted"] is False and data["errors"][0]["source"] == "Label Studio task 1002, annotation 1, rater ls-7"


def test_each_error_names_its_own_task_when_tasks_share_an_item_id(tmp_path):
    first, second = _task(1001, "How do I boil an egg?"), _task(1002, "   ")
    first["data"]["item_id"] = second["data"]["item_id"] = "egg"  # the same item, asked twice
    export = tmp_path / "export.json"
    export.write_text(json.dumps([first, second]))
    data = json.loads(run_cli("import", "labelstudio", str(export), "--batch-id", "b1", "--out", str(tmp_path / "b.jsonl"),
                              "--format", "json", cwd=tmp_path).stdout)
    assert sorted({(e["line"], e["source"]) for e in data["errors"]}) == [
        (3, "Label Studio task 1002, annotation 1, rater ls-7"), (4, "Label Studio task 1002, annotation 2, rater ls-8")]
    assert {e["kind"] for e in data["errors"]} >= {"empty_prompt"}


def test_errors_on_imported_data_name_the_argilla_record(tmp_path):
    records = [{"id": rid, "fields": {"prompt": prompt, "response": "Paris."},
                "responses": {"rating": [{"user_id": "u1", "value": 4, "status": "submitted"}]}, "status": "completed"}
               for rid, prompt in (("rec-1", "Capital of France?"), ("rec-2", " "))]
    export = tmp_path / "records.json"
    export.write_text(json.dumps(records))
    result = run_cli("import", "argilla", str(export), "--batch-id", "b2", "--out", str(tmp_path / "b.jsonl"), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "line 2 (Argilla record rec-2, response 1, rater argilla-u1)" in result.stderr


def _vendor_csv(path: Path, rows: list[dict], rename: dict[str, str]) -> Path:
    names = [rename.get(k, k) for k in ("batch_id", "item_id", "rater_id", "dimension", "task_type", "prompt",
                                        "response_a", "response_b", "choice")]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for r in rows:
            w.writerow([r[k] for k in ("batch_id", "item_id", "rater_id", "dimension", "task_type", "prompt",
                                       "response_a", "response_b", "choice")])
    return path


def test_vendor_csv_gets_a_did_you_mean_and_maps_with_a_flag(tmp_path):
    rows = make_pairwise_batch(batch_id="v-1", n_items=20, seed=2)
    rows[4]["choice"] = "left"  # one bad row: line 6 of the CSV (the header is line 1)
    path = _vendor_csv(tmp_path / "vendor.csv", rows, {"rater_id": "annotator_id", "prompt": "question"})
    plain = json.loads(run_cli("validate", str(path), "--format", "json", cwd=tmp_path).stdout)
    messages = {e["column"]: e["message"] for e in plain["errors"] if e["kind"] == "missing_field"}
    assert "did you mean `annotator_id`? map it: --map annotator_id=rater_id" in messages["rater_id"]
    assert "did you mean `question`?" in messages["prompt"]
    mapped = run_cli("validate", str(path), "--map", "annotator_id=rater_id", "--map", "question=prompt",
                     "--format", "json", cwd=tmp_path)
    report = json.loads(mapped.stdout)
    assert [(e["line"], e["column"]) for e in report["errors"]] == [(6, "choice")]
    rows[4]["choice"] = "a"
    _vendor_csv(path, rows, {"rater_id": "annotator_id", "prompt": "question"})
    (tmp_path / "alignment.yaml").write_text("validation:\n  column_map: {annotator_id: rater_id, question: prompt}\n")
    ingested = run_cli("ingest", str(path), "--vendor", "acme", "--format", "json", cwd=tmp_path)
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr


def test_a_column_map_to_a_non_contract_column_is_a_usage_error(tmp_path):
    path = write_jsonl(make_pairwise_batch(batch_id="v-2", n_items=5, seed=1), tmp_path / "b.jsonl")
    result = run_cli("validate", str(path), "--map", "annotator=rater", cwd=tmp_path)
    assert result.returncode == 2 and "'rater' is not a column of the data contract" in result.stderr
    assert "did you mean `rater_id`" in result.stderr


def test_a_stored_batch_validates_again_without_a_line_warning(tmp_path):
    path = write_jsonl(make_pairwise_batch(batch_id="v-3", n_items=20, seed=1), tmp_path / "b.jsonl")
    assert run_cli("ingest", str(path), "--vendor", "acme", cwd=tmp_path).returncode == 0
    stored = next((tmp_path / ".alignment-ci" / "store" / "blobs").rglob("*"))
    stored = next(p for p in (tmp_path / ".alignment-ci" / "store" / "blobs").rglob("*") if p.is_file())
    copy = tmp_path / "stored.parquet"
    copy.write_bytes(stored.read_bytes())
    report = json.loads(run_cli("validate", str(copy), "--format", "json", cwd=tmp_path).stdout)
    assert report["accepted"]
    assert [w for w in report["warnings"] if w["column"] == "line"] == []


def _jsonl_rows(rename: dict[str, str]) -> list[dict]:
    rows = make_pairwise_batch(batch_id="v-2", n_items=5, seed=3)
    return [{rename.get(k, k): v for k, v in r.items()} for r in rows]


def test_vendor_jsonl_keys_get_a_did_you_mean(tmp_path):
    path = tmp_path / "vendor.jsonl"
    write_jsonl(_jsonl_rows({"rater_id": "rater_idd", "choice": "Choice", "prompt": "question"}), path)
    report = json.loads(run_cli("validate", str(path), "--format", "json", cwd=tmp_path).stdout)
    missing = {(e["line"], e["column"]): e["message"] for e in report["errors"] if e["kind"] == "missing_field"}
    assert "did you mean `rater_idd`? map it: --map rater_idd=rater_id or validation.column_map" in missing[(1, "rater_id")]
    assert "did you mean `Choice`? map it: --map Choice=choice" in missing[(1, "choice")]
    assert "did you mean `question`? map it: --map question=prompt" in missing[(1, "prompt")]
    warned = {e["column"]: e["message"] for e in report["warnings"] if e["kind"] == "unknown_column"}
    assert warned["rater_idd"].endswith("it is ignored (did you mean `rater_id`? map it: --map rater_idd=rater_id "
                                        "or validation.column_map)")
    mapped = run_cli("validate", str(path), "--map", "rater_idd=rater_id", "--map", "Choice=choice", "--map",
                     "question=prompt", "--format", "json", cwd=tmp_path)
    assert mapped.returncode == 0 and json.loads(mapped.stdout)["accepted"] is True


def test_an_extra_jsonl_key_near_a_column_the_file_has_gets_no_hint(tmp_path):
    rows = _jsonl_rows({})
    for r in rows:
        r["rater_idd"] = "legacy"  # close to rater_id, which every row has: a vendor extra, not a typo
        r["notes"] = "fine"
    path = tmp_path / "extra.jsonl"
    write_jsonl(rows, path)
    report = json.loads(run_cli("validate", str(path), "--format", "json", cwd=tmp_path).stdout)
    assert report["accepted"] is True
    warned = {e["column"]: e["message"] for e in report["warnings"] if e["kind"] == "unknown_column"}
    assert set(warned) == {"rater_idd", "notes"} and not any("did you mean" in m for m in warned.values())
