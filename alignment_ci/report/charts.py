"""Charts of the report: mermaid ``xychart-beta`` blocks (GitHub renders them in comments)
and matplotlib PNGs embedded as data URIs in the HTML report.

Both draw from the same binned data (:func:`reward_histograms`, :func:`calibration_points`,
:func:`win_rate_points`), so the two reports show the same numbers. Labels that come from
vendors or models (slice names) pass through :func:`chart_label`, which keeps a small safe
character set: mermaid and matplotlib's mathtext both have markup of their own.
"""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import numpy as np

from ..textsafety import redact_pii, truncate
from .data import ReportData, finite

MAX_SLICES = 30
_UNSAFE_LABEL = re.compile(r"[^A-Za-z0-9 _.,:/+=()-]")


def chart_label(text: Any, limit: int = 24) -> str:
    """A chart label: PII redacted, characters outside ``[A-Za-z0-9 _.,:/+=()-]`` replaced by ``_``."""
    label = truncate(_UNSAFE_LABEL.sub("_", redact_pii(str(text))), limit, marker="~")
    return label.strip(" _") or "unnamed"  # matplotlib hides legend labels starting with "_"


def reward_histograms(scores: dict[str, list[float]], bins: int = 20) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """Counts of each series over one shared set of ``bins`` equal-width bins (None when empty)."""
    arrays = {}
    for name, values in scores.items():
        arr = np.asarray(values, dtype=float)
        arr = arr[np.isfinite(arr)]
        if arr.size:
            arrays[str(name)] = arr
    if not arrays:
        return None
    lo = min(float(a.min()) for a in arrays.values())
    hi = max(float(a.max()) for a in arrays.values())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    return edges, {name: np.histogram(a, bins=edges)[0] for name, a in arrays.items()}


def calibration_points(bins: list[dict[str, Any]]) -> list[tuple[float, float, int]]:
    """``(mean predicted, observed, n)`` per non-empty bin, in order of predicted probability.

    Bins are ``{predicted, observed, n}`` or, as the calibration gate writes them,
    ``{confidence, accuracy, n}``."""
    points = []
    for b in bins:
        p = finite(b.get("predicted", b.get("confidence")))
        o = finite(b.get("observed", b.get("accuracy")))
        n = int(b.get("n") or 0)
        if p is not None and o is not None and n > 0:
            points.append((p, o, n))
    return sorted(points)


def win_rate_points(win_rates: list[dict[str, Any]]) -> list[tuple[str, float, int, tuple[float, float] | None]]:
    """``(label, win rate, n, interval)`` per slice, worst first, at most :data:`MAX_SLICES`."""
    points = []
    for w in win_rates:
        rate = finite(w.get("win_rate"))
        if rate is None:
            continue
        ci = w.get("interval")
        interval = (finite(ci[0]), finite(ci[1])) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None
        if interval and None in interval:
            interval = None
        points.append((chart_label(w.get("slice", "?")), rate, int(w.get("n") or 0), interval))  # type: ignore[arg-type]
    points.sort(key=lambda p: p[1])
    return points[:MAX_SLICES]


# ------------------------------------------------------------------ mermaid


def _mm_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _mm_nums(values: Any, digits: int = 3) -> str:
    return "[" + ", ".join(f"{float(v):.{digits}f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(int(v)) for v in values) + "]"


def _fence(lines: list[str]) -> str:
    return "```mermaid\n" + "\n".join(lines) + "\n```"


def mermaid_charts(data: ReportData) -> list[dict[str, str]]:
    """Mermaid blocks ``[{title, block, legend}]`` for the charts that have data."""
    charts = []
    hist = reward_histograms(data.reward_scores)
    if hist:
        edges, counts = hist
        centres = (edges[:-1] + edges[1:]) / 2
        names = list(counts)[:4]
        top = max(int(c.max()) for c in counts.values())
        lines = [
            "xychart-beta",
            '    title "Reward distribution"',
            f'    x-axis "reward" {_mm_list([f"{c:.2f}" for c in centres])}',
            f'    y-axis "count" 0 --> {max(1, top)}',
        ]
        for i, name in enumerate(names):
            lines.append(f"    {'bar' if i == 0 else 'line'} {_mm_nums([int(x) for x in counts[name]])}")
        legend = "bars: " + chart_label(names[0]) + "".join(f"; line {i}: {chart_label(n)}" for i, n in enumerate(names[1:], 1))
        charts.append({"title": "Reward distribution", "block": _fence(lines), "legend": legend})
    cal = calibration_points(data.calibration)
    if cal:
        lines = [
            "xychart-beta",
            '    title "Calibration: observed vs predicted P(chosen wins)"',
            f'    x-axis "predicted" {_mm_list([f"{p:.2f}" for p, _, _ in cal])}',
            '    y-axis "observed" 0 --> 1',
            f"    line {_mm_nums([o for _, o, _ in cal])}",
            f"    line {_mm_nums([p for p, _, _ in cal])}",
        ]
        charts.append({"title": "Calibration", "block": _fence(lines), "legend": "line 1: observed share; line 2: perfect calibration"})
    wins = win_rate_points(data.win_rates)
    if wins:
        lines = [
            "xychart-beta",
            '    title "Candidate win rate vs baseline per slice"',
            f'    x-axis "slice" {_mm_list([w[0] for w in wins])}',
            '    y-axis "win rate" 0 --> 1',
            f"    bar {_mm_nums([w[1] for w in wins])}",
            f"    line {_mm_nums([0.5] * len(wins))}",
        ]
        charts.append({"title": "Win rate per slice", "block": _fence(lines), "legend": "bars: win rate; line: parity (0.5)"})
    return charts


# --------------------------------------------------------------- matplotlib


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def png_charts(data: ReportData) -> list[dict[str, str]]:
    """PNG charts ``[{title, src}]`` (``src`` a ``data:image/png;base64`` URI) for the HTML report.

    Uses matplotlib's object-oriented API on the Agg canvas: no pyplot global state, no display.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def figure(width: float = 7.0, height: float = 3.4) -> Any:
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        return fig

    charts = []
    hist = reward_histograms(data.reward_scores, bins=40)
    if hist:
        edges, counts = hist
        fig = figure()
        ax = fig.add_subplot()
        for name, c in list(counts.items())[:4]:
            ax.stairs(c, edges, fill=len(counts) == 1, alpha=0.8, label=chart_label(name))
        ax.set_xlabel("reward-model score")
        ax.set_ylabel("count")
        ax.legend()
        charts.append({"title": "Reward distribution", "src": _png(fig)})
    cal = calibration_points(data.calibration)
    if cal:
        fig = figure(4.6, 4.0)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
        ax.plot([p for p, _, _ in cal], [o for _, o, _ in cal], marker="o", label="reward model")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("predicted P(chosen wins)")
        ax.set_ylabel("observed share")
        ax.legend()
        charts.append({"title": "Calibration curve", "src": _png(fig)})
    wins = win_rate_points(data.win_rates)
    if wins:
        fig = figure(7.0, max(2.0, 0.3 * len(wins) + 1))
        ax = fig.add_subplot()
        ys = np.arange(len(wins))
        rates = np.array([w[1] for w in wins])
        errs = None
        if all(w[3] for w in wins):
            errs = np.array([[r - w[3][0], w[3][1] - r] for r, w in zip(rates, wins)]).T.clip(min=0)  # type: ignore[index]
        ax.barh(ys, rates, xerr=errs, color=["#d62728" if r < 0.5 else "#2ca02c" for r in rates])
        ax.axvline(0.5, color="grey", linestyle="--")
        ax.set_yticks(ys, [w[0] for w in wins])
        ax.set_xlim(0, 1)
        ax.set_xlabel("candidate win rate vs baseline")
        charts.append({"title": "Win rate per slice", "src": _png(fig)})
    per_step = [s for s in ((data.candidate or {}).get("per_step") or []) if finite(s.get("loss")) is not None]
    if per_step:
        fig = figure(7.0, 3.0)
        ax = fig.add_subplot()
        ax.plot([s.get("step", i) for i, s in enumerate(per_step)], [float(s["loss"]) for s in per_step], label="candidate")
        base_steps = [s for s in ((data.baseline or {}).get("per_step") or []) if finite(s.get("loss")) is not None]
        if base_steps:
            ax.plot([s.get("step", i) for i, s in enumerate(base_steps)], [float(s["loss"]) for s in base_steps], label="baseline")
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.legend()
        charts.append({"title": "Training loss", "src": _png(fig)})
    return charts
