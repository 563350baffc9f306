"""Gate outcomes, the verdict, and the two result files (JSON and JUnit XML).

Outcomes: ``pass``, ``fail``, ``inconclusive`` (not enough data to decide, or the candidate
lacks the model the gate needs) and ``skipped`` (turned off in the config, or nothing to
check, e.g. no eval row carries a hallucination label; the reason
says so). A result *blocks* when its gate is blocking (not a shadow gate) and it failed,
or it is inconclusive and ``inconclusive_blocks`` is on. The verdict is ``fail`` when any
result blocks or a gate file could not run, else ``pass``.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_atomic as _write_atomic
from ..textsafety import truncate

OUTCOMES: tuple[str, ...] = ("pass", "fail", "inconclusive", "skipped")
RESULTS_JSON = "gates.json"
RESULTS_JUNIT = "gates.junit.xml"
SCHEMA_VERSION = 1


class Inconclusive(Exception):
    """Raised in a gate: not enough data, no candidate, or a candidate without the model the
    gate needs. Blocks by default."""


class NotApplicable(Exception):
    """Raised in a gate: it does not apply here (reported as ``skipped``, never blocking).
    Reserved for checks with nothing to check (e.g. no row carries the label); a gate that
    lacks its inputs is :class:`Inconclusive`."""


@dataclass
class Decision:
    """What one check decided: the outcome, the number it decided on, and why."""

    outcome: str
    reason: str
    value: float | None = None
    threshold: float | None = None
    interval: tuple[float, float] | None = None
    n: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")


@dataclass
class GateResult:
    """One row of the results: a gate (or one slice of it) and its decision."""

    gate: str
    outcome: str
    blocking: bool
    reason: str
    value: float | None = None
    threshold: float | None = None
    interval: list[float] | None = None
    n: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    nodeid: str = ""
    duration_s: float = 0.0
    blocks: bool = False

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _finite(obj: Any) -> Any:
    """NaN and infinities become null: the JSON stays standard."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _finite(obj.item())
    return obj


# ----------------------------------------------------------------------- decision rules


def _stated(what: str, value: float, interval: tuple[float, float] | None, details: dict[str, Any] | None,
            count: str) -> tuple[float, float, str, dict[str, Any]]:
    """What :func:`at_least` and :func:`at_most` share: the bounds, the sentence that states
    the estimate, and a copy of ``details``."""
    lo, hi = interval if interval is not None else (value, value)
    shown = f"{what} is {_fmt(value)}{f' ({count})' if count else ''}"
    if interval is not None:
        shown += f", interval [{_fmt(lo)}, {_fmt(hi)}]"
    return lo, hi, shown, dict(details or {})


def _too_few(shown: str, value: float, threshold: float, interval: tuple[float, float] | None, n: int, min_n: int,
             details: dict[str, Any]) -> Decision:
    return Decision("inconclusive", f"{shown}: only {n} units, at least {min_n} are needed to decide",
                    value, threshold, interval, n, details)


def at_least(what: str, value: float, threshold: float, *, n: int, min_n: int,
             interval: tuple[float, float] | None = None, details: dict[str, Any] | None = None,
             count: str = "") -> Decision:
    """Decide "``value`` is at least ``threshold``" on its interval's lower bound.

    pass: the lower bound reaches the threshold; fail: the estimate itself is below it;
    inconclusive: fewer than ``min_n`` units, or the estimate clears the threshold but the
    interval does not (more data would decide).
    """
    lo, hi, shown, details = _stated(what, value, interval, details, count)
    if n < min_n:
        return _too_few(shown, value, threshold, interval, n, min_n, details)
    if lo >= threshold:
        return Decision("pass", f"{shown}; the lower bound reaches {_fmt(threshold)}", value, threshold, interval, n, details)
    if value < threshold:
        return Decision("fail", f"{shown}; it must be at least {_fmt(threshold)}", value, threshold, interval, n, details)
    return Decision("inconclusive", f"{shown}: the estimate clears {_fmt(threshold)} but the lower bound does not; "
                    f"more data would decide", value, threshold, interval, n, details)


def at_most(what: str, value: float, threshold: float, *, n: int, min_n: int,
            interval: tuple[float, float] | None = None, details: dict[str, Any] | None = None,
            count: str = "") -> Decision:
    """Decide "``value`` is at most ``threshold``" on its interval's upper bound (the mirror
    of :func:`at_least`)."""
    lo, hi, shown, details = _stated(what, value, interval, details, count)
    if n < min_n:
        return _too_few(shown, value, threshold, interval, n, min_n, details)
    if hi <= threshold:
        return Decision("pass", f"{shown}; within the limit of {_fmt(threshold)}", value, threshold, interval, n, details)
    if value > threshold:
        return Decision("fail", f"{shown}; it must be at most {_fmt(threshold)}", value, threshold, interval, n, details)
    return Decision("inconclusive", f"{shown}: the estimate is within {_fmt(threshold)} but the upper bound is not; "
                    f"more data would decide", value, threshold, interval, n, details)


# ----------------------------------------------------------------------- verdict


def blocks(result: GateResult, inconclusive_blocks: bool) -> bool:
    if not result.blocking:
        return False
    return result.outcome == "fail" or (result.outcome == "inconclusive" and inconclusive_blocks)


@dataclass
class GateReport:
    """Everything a gate run produced; what ``gates.json`` holds."""

    verdict: str
    results: list[GateResult]
    inconclusive_blocks: bool
    errors: list[str] = field(default_factory=list)
    candidate: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    pytest_exit_code: int | None = None
    paths: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(OUTCOMES, 0)
        for r in self.results:
            out[r.outcome] += 1
        out["blocking"] = sum(r.blocks for r in self.results)
        return out

    @property
    def blocking_results(self) -> list[GateResult]:
        return [r for r in self.results if r.blocks]

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict == "pass" else 1

    def to_dict(self) -> dict[str, Any]:
        return _finite({
            "schema_version": SCHEMA_VERSION,
            "verdict": self.verdict,
            "counts": self.counts,
            "inconclusive_blocks": self.inconclusive_blocks,
            "errors": self.errors,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "data": self.data,
            "gates": [r.to_dict() for r in self.results],
            "pytest_exit_code": self.pytest_exit_code,
        })


def make_report(results: Sequence[GateResult], inconclusive_blocks: bool, errors: Iterable[str] = (),
                **extra: Any) -> GateReport:
    """Mark which results block and compute the verdict."""
    results = list(results)
    for r in results:
        r.blocks = blocks(r, inconclusive_blocks)
    errors = list(errors)
    verdict = "fail" if errors or any(r.blocks for r in results) else "pass"
    return GateReport(verdict, results, inconclusive_blocks, errors, **extra)


def report_from_dict(data: dict[str, Any]) -> GateReport:
    """Read ``gates.json`` back."""
    fields = set(GateResult.__dataclass_fields__)
    results = [GateResult(**{k: v for k, v in g.items() if k in fields}) for g in data.get("gates", [])]
    return GateReport(data["verdict"], results, bool(data.get("inconclusive_blocks", True)),
                      list(data.get("errors", [])), data.get("candidate", {}), data.get("baseline", {}),
                      data.get("data", {}), data.get("pytest_exit_code"))


# ----------------------------------------------------------------------- writers


def write_json(report: GateReport, path: str | Path) -> Path:
    """``gates.json``: verdict, counts and one entry per result (written atomically)."""
    p = Path(path)
    _write_atomic(p, json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n")
    return p


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: Any, limit: int = 4000) -> str:
    return truncate(_XML_BAD.sub("", str(text)), limit)


def write_junit(report: GateReport, path: str | Path) -> Path:
    """``gates.junit.xml``: one ``testcase`` per result.

    A blocking fail is a ``failure``; a blocking inconclusive is an ``error`` of type
    ``inconclusive``; a shadow gate's fail and a non-blocking inconclusive are ``skipped``
    (reported, never red); ``skipped`` results are ``skipped``. Value, threshold, interval
    and n are ``property`` elements.
    """
    counts = report.counts
    failures = sum(1 for r in report.results if r.blocks and r.outcome == "fail")
    errors = sum(1 for r in report.results if r.blocks and r.outcome == "inconclusive") + len(report.errors)
    skipped = sum(1 for r in report.results if not r.blocks and r.outcome != "pass")
    total_time = sum(r.duration_s for r in report.results)
    attrs = {"name": "alignment-ci gates", "tests": str(len(report.results) + len(report.errors)),
             "failures": str(failures), "errors": str(errors), "skipped": str(skipped), "time": f"{total_time:.3f}"}
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(root, "testsuite", attrs)
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "verdict", "value": report.verdict})
    ET.SubElement(props, "property", {"name": "inconclusive_blocks", "value": str(report.inconclusive_blocks).lower()})
    for key in ("pass", "fail", "inconclusive", "skipped"):
        ET.SubElement(props, "property", {"name": f"count_{key}", "value": str(counts[key])})
    for r in report.results:
        case = ET.SubElement(suite, "testcase", {"classname": f"gates.{_xml_text(r.gate.split('/')[0], 200)}",
                                                 "name": _xml_text(r.gate, 500), "time": f"{r.duration_s:.3f}"})
        cprops = ET.SubElement(case, "properties")
        for name, value in (("outcome", r.outcome), ("blocking", str(r.blocking).lower()), ("value", r.value),
                            ("threshold", r.threshold), ("n", r.n),
                            ("interval_low", r.interval[0] if r.interval else None),
                            ("interval_high", r.interval[1] if r.interval else None)):
            if value is not None:
                ET.SubElement(cprops, "property", {"name": name, "value": _xml_text(value, 200)})
        message = _xml_text(r.reason, 1000)
        body = _xml_text(r.reason + "\n" + json.dumps(_finite(r.details), indent=2, default=str))
        if r.blocks and r.outcome == "fail":
            ET.SubElement(case, "failure", {"message": message, "type": "gate-fail"}).text = body
        elif r.blocks and r.outcome == "inconclusive":
            ET.SubElement(case, "error", {"message": message, "type": "inconclusive"}).text = body
        elif r.outcome != "pass":
            kind = "shadow" if not r.blocking else "non-blocking"
            ET.SubElement(case, "skipped", {"message": _xml_text(f"{kind} {r.outcome}: {r.reason}", 1000)})
        else:
            ET.SubElement(case, "system-out").text = body
    for n, error in enumerate(report.errors, start=1):
        case = ET.SubElement(suite, "testcase", {"classname": "gates.session", "name": f"error-{n}", "time": "0"})
        ET.SubElement(case, "error", {"message": _xml_text(error, 1000), "type": "gate-error"}).text = _xml_text(error)
    ET.indent(root)
    p = Path(path)
    _write_atomic(p, '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n")
    return p


def write_results(report: GateReport, results_dir: str | Path) -> dict[str, str]:
    """Write both files into ``results_dir``; returns their paths."""
    d = Path(results_dir)
    paths = {"json": str(d / RESULTS_JSON), "junit": str(d / RESULTS_JUNIT)}
    report.paths = paths
    write_junit(report, paths["junit"])
    write_json(report, paths["json"])
    return paths


def summary_lines(report: GateReport) -> list[str]:
    """One line per result, for a terminal: outcome, gate, value vs threshold, reason."""
    lines = []
    for r in report.results:
        mark = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "skipped": "SKIPPED"}[r.outcome]
        tag = "" if r.blocking else " (shadow)"
        lines.append(f"{mark:<12} {r.gate}{tag}: {r.reason}")
    lines += [f"ERROR        {e}" for e in report.errors]
    lines.append(f"verdict: {report.verdict}")
    return lines
