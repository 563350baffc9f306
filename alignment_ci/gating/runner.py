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
from .session import BUILTIN_DIR

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


def _has_gate_files(directory: Path) -> bool:
    return any(directory.glob("test_*.py")) or any(directory.glob("*_test.py"))


def gate_directories(context: GateContext, gates_dir: str | Path | None = None, *,
                     builtin: bool = True) -> list[Path]:
    """The directories one gate session collects: the built-in gates (always collected;
    ``gates.builtin: false`` reports them as skipped) and the repository's gates directory
    (``gates_dir``, default ``paths.gates``) when it exists. An explicit ``gates_dir`` that does not exist,
    or no gate file anywhere, is an :class:`InputError`. ``builtin=False`` leaves the built-in
    directory out of the session altogether (a suite run on its own)."""
    directories = [BUILTIN_DIR] if builtin else []
    if gates_dir is not None:
        directory = Path(gates_dir)
        if not directory.is_dir():
            raise InputError(f"gates directory {directory}: no such directory")
    else:
        directory = context.config.resolve(context.config.paths.gates)
    if directory.is_dir() and directory.resolve() != BUILTIN_DIR:
        directories.append(directory)
    if not any(_has_gate_files(d) for d in directories):
        raise InputError(f"no gate files (test_*.py) in {', '.join(str(d) for d in directories)}")
    return directories


def run_gates(
    options: GateOptions | None = None,
    *,
    gates_dir: str | Path | None = None,
    select: str | None = None,
    extra_args: list[str] | None = None,
    stream: IO[str] | None = None,
    builtin: bool = True,
) -> GateRun:
    """Run the built-in gates and every gate file in ``gates_dir`` (default: the config's
    ``paths.gates``; see :func:`gate_directories`).

    ``select`` is a pytest ``-k`` expression; ``builtin=False`` runs ``gates_dir`` alone. pytest's terminal output goes to ``stream``
    (default: captured and returned in ``GateRun.output``, never printed). Inputs that
    cannot work at all (a bad config, a bad settings file, a gates directory that does not
    exist, no gate file at all) are an :class:`InputError` before anything runs; a missing candidate or data set
    is not: the gates that need it are inconclusive, with the reason, in the report.
    """
    import pytest

    options = (options or GateOptions()).with_env()
    context = GateContext(options)  # fails early on a bad config or settings file
    directories = gate_directories(context, gates_dir, builtin=builtin)
    results_dir = context.results_dir.resolve()
    options.results_dir = str(results_dir)
    (results_dir / RESULTS_JSON).unlink(missing_ok=True)
    args = [
        *(str(d) for d in directories),
        *plugin_args(),
        "-p", "no:cacheprovider",
        "--import-mode=importlib",
        "--rootdir", str(directories[-1]),
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
        for directory in directories:
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
