"""The cost model: annotation and GPU cost, from a plan or a run record; the CLI."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from alignment_ci.config import Config
from alignment_ci.errors import InputError
from alignment_ci.monitor.cost import annotation_cost, cost_estimate, cost_markdown, gpu_cost, run_gpu_usage


def test_annotation_cost_with_vendor_price_and_gold_overhead():
    prices = {"default": 0.5, "acme": 0.8}
    assert annotation_cost(100, 3, "acme", prices, gold_rate=0.1) == {
        "vendor": "acme", "items": 100, "labels_per_item": 3, "labels": 300, "gold_labels": 34,
        "price_per_label": 0.8, "cost": 267.2,  # (300 + ceil(300 x 0.1 / 0.9)) x 0.8
    }
    assert annotation_cost(10, 1, "other", prices)["cost"] == 5.0
    with pytest.raises(InputError, match="no price per label for vendor 'x' and no `default`"):
        annotation_cost(1, 1, "x", {"acme": 1.0})


def test_gpu_cost_counts_gpus_and_needs_a_price():
    prices = {"cpu": 0.0, "H100": 4.0, "A100-80GB": 2.5}
    assert gpu_cost(1.5, "A100-80GB:4", prices) == {"gpu": "A100-80GB", "count": 4, "gpu_hours": 6.0,
                                                    "price_per_gpu_hour": 2.5, "cost": 15.0}
    assert gpu_cost(2.0, "cpu", prices)["cost"] == 0.0
    with pytest.raises(InputError, match="no price for GPU 'L4' in cost.gpu_hour"):
        gpu_cost(1.0, "L4", prices)
    with pytest.raises(InputError, match="count after ':' must be a number"):
        gpu_cost(1.0, "H100:x", prices)


def test_run_record_usage_and_markdown():
    modal_run = {"backend": "modal", "train_s": 5400.0, "wall_s": 6000.0, "config": {"modal": {"gpu": "H100:2"}}}
    assert run_gpu_usage(modal_run) == (1.5, "H100:2")
    assert run_gpu_usage({"backend": "local", "wall_s": 36.0}) == (0.01, "cpu")
    estimate = cost_estimate(prices=Config().cost, items=40, vendor="acme|<b>", labels_per_item=3, gold_rate=0.1,
                             gpu_hours=1.5, gpu="H100:2")
    assert estimate["annotation"]["cost"] == 67.0 and estimate["gpu"]["cost"] == 12.0 and estimate["total"] == 79.0
    md = cost_markdown(estimate)
    assert "| annotation (acme\\|&lt;b&gt;) | 40 items x 3 labels + 14 gold = 134 labels | 0.50 USD | 67.00 USD |" in md
    assert "| GPU (H100 x2) | 3.00 GPU-hours | 4.00 USD | 12.00 USD |" in md
    assert md.strip().endswith("| **total** | | | **79.00 USD** |")


def test_cli_cost_from_plan_and_run(tmp_path):
    from alignment_ci.commands import cost as cost_cmd

    app = typer.Typer()
    app.add_typer(cost_cmd.app, name="cost")
    (tmp_path / "alignment.yaml").write_text("cost:\n  price_per_label: {default: 0.4, acme: 1.0}\nbridge:\n  gold_rate: 0.0\n")
    (tmp_path / "plan.json").write_text(json.dumps({"budget": 10, "items": [{"item_id": str(i)} for i in range(10)]}))
    (tmp_path / "run.json").write_text(json.dumps({"backend": "modal", "train_s": 7200, "config": {"modal": {"gpu": "A100-80GB"}}}))
    result = CliRunner().invoke(app, ["cost", "--plan", str(tmp_path / "plan.json"), "--vendor", "acme", "--run",
                                      str(tmp_path / "run.json"), "--config", str(tmp_path / "alignment.yaml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["annotation"]["labels"] == 30 and data["annotation"]["cost"] == 30.0
    assert data["gpu"] == {"gpu": "A100-80GB", "count": 1, "gpu_hours": 2.0, "price_per_gpu_hour": 2.5, "cost": 5.0}
    assert data["total"] == 35.0
