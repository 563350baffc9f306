from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PY = sys.executable


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, "-m", "alignment_ci.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def test_a_command_loads_only_its_command_module():
    """cli.py mounts command modules lazily: `config show` does not load the others (nor pandas)."""
    code = (
        "import sys\n"
        "from alignment_ci.cli import app\n"
        "import typer.testing\n"
        "r = typer.testing.CliRunner().invoke(app, ['config', 'show', '--format', 'json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "loaded = [m for m in sys.modules if m.startswith('alignment_ci.commands.') or m in ('pandas', 'pyarrow', 'rater_bridge.cli')]\n"
        "print(','.join(sorted(loaded)))\n"
    )
    result = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "alignment_ci.commands.config"


def test_config_show_json_prints_resolved_defaults(tmp_path: Path):
    result = run_cli("config", "show", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["validation"]["text_warn_bytes"] == 65536
    assert [d["name"] for d in data["taxonomy"]["dimensions"]][0] == "helpfulness"


def test_bad_config_exits_2_with_key_and_line(tmp_path: Path):
    cfg = tmp_path / "alignment.yaml"
    cfg.write_text("quality:\n  alpha_reliable: 0.8\n  alpah_tentative: 0.6\n")
    result = run_cli("config", "show", "--config", str(cfg))
    assert result.returncode == 2
    assert "alignment.yaml:3: quality.alpah_tentative: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_option_is_usage_error():
    assert run_cli("validate", "--no-such-flag", "x.jsonl").returncode == 2
