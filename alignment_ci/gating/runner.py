"""Run the gate suites in-process through ``pytest.main`` and return the verdict.

``run_gates`` is what ``alignment-ci gate`` calls: it points pytest at the gates
directory with the plugin loaded, lets the plugin write ``gates.json`` and
``gates.junit.xml`` (also when a gate fails), and reads the report back.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import InputError
from .context import ENV, GateContext, GateOptions
from .results import RESULTS_JSON, GateReport, report_from_dict

PLUGIN = "alignment_ci.gating.plugin"
ENTRY_POINT_NAME = "alignment_ci"


def plugin_args() -> list[str]:
    """``-p`` arguments that load the plugin exactly once: the ``pytest11`` entry point (if
    installed) is blocked by name and the module is loaded explicitly, so the same call works
    before and after the entry point is registered."""
    return ["-p", f"no:{ENTRY_POINT_NAME}", "-p", PLUGIN]


@dataclass
class GateRun:
    """The outcome of :func:`run_gates`."""

    report: GateReport
    results_dir: Path
    pytest_exit_code: int
    output: str

    @property
    def exit_code(self) -> int:
        return self.report.exit_code


def option_args(options: GateOptions) -> list[str]:
    args = []
    for key in ENV:
        value = getattr(options, key)
        if value:
            args.append(f"--{key.replace('_', '-')}={value}")
    return args


def run_gates(
    options: GateOptions | None = None,
    *,
    gates_dir: str | Path | None = None,
    select: str | None = None,
    extra_args: list[str] | None = None,
    stream: IO[str] | None = None,
) -> GateRun:
    """Run every gate file in ``gates_dir`` (default: the config's ``paths.gates``).

    ``select`` is a pytest ``-k`` expression. pytest's terminal output goes to ``stream``
    (default: captured and returned in ``GateRun.output``, never printed). Inputs that
    cannot work at all (a bad config, a bad settings file, a gates directory that does not
    exist) are an :class:`InputError` before anything runs; a missing candidate or data set
    is not: the gates that need it are inconclusive, with the reason, in the report.
    """
    import pytest

    options = (options or GateOptions()).with_env()
    context = GateContext(options)  # fails early on a bad config or settings file
    directory = Path(gates_dir) if gates_dir is not None else context.config.resolve(context.config.paths.gates)
    if not directory.is_dir():
        raise InputError(f"gates directory {directory}: no such directory; create it or set paths.gates")
    if not any(directory.glob("test_*.py")) and not any(directory.glob("*_test.py")):
        raise InputError(f"gates directory {directory}: no gate files (test_*.py) in it")
    results_dir = context.results_dir.resolve()
    options.results_dir = str(results_dir)
    (results_dir / RESULTS_JSON).unlink(missing_ok=True)
    args = [
        str(directory),
        *plugin_args(),
        "-p", "no:cacheprovider",
        "--import-mode=importlib",
        "--rootdir", str(directory),
        "-o", "addopts=",
        "-q",
        "--alignment-ci-gates",
        "--continue-on-collection-errors",
        *option_args(options),
    ]
    if select:
        args += ["-k", select]
    args += list(extra_args or [])
    buffer = io.StringIO() if stream is None else None
    target = stream if stream is not None else buffer
    try:
        with contextlib.redirect_stdout(target):  # pytest's terminal writes to sys.stdout
            code = int(pytest.main(args))
    finally:
        _forget_modules_under(directory)
    output = buffer.getvalue() if buffer is not None else ""
    path = results_dir / RESULTS_JSON
    if not path.is_file():
        tail = output.strip().splitlines()[-5:] if output else []
        raise InputError(f"the gate session wrote no report (pytest exit code {code}); "
                         + (" | ".join(tail) if tail else "rerun with output to see why"))
    report = report_from_dict(json.loads(path.read_text(encoding="utf-8")))
    report.paths = {"json": str(path), "junit": str(results_dir / "gates.junit.xml")}
    return GateRun(report, results_dir, code, output)


def _forget_modules_under(directory: Path) -> None:
    """Drop the gate modules (and their conftest) from ``sys.modules``: pytest's importlib
    mode reuses a module by name, so the next run (another directory, same file name) must
    not get this one."""
    import os
    import sys

    roots = tuple({os.path.join(str(directory.resolve()), ""), os.path.join(str(directory.absolute()), "")})
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.startswith(roots):
            del sys.modules[name]


def report_to_dict(run: GateRun) -> dict[str, Any]:
    data = run.report.to_dict()
    data["paths"] = run.report.paths
    return data


__all__ = ["GateRun", "plugin_args", "run_gates", "report_to_dict"]
