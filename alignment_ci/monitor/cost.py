"""The cost model: annotation and GPU cost of a planned batch or a training run.

* annotation = items x labels per item x price per label (``cost.price_per_label``, per
  vendor, ``default`` for the rest), plus the gold items mixed in at ``bridge.gold_rate``
  of what raters are served: ``gold = ceil(labels x rate / (1 - rate))``, paid like any label;
* GPU = GPU-hours x GPU count x price per GPU-hour (``cost.gpu_hour``, keyed by GPU type;
  a Modal spec ``A100-80GB:4`` means four GPUs).

:func:`run_gpu_usage` reads GPU-hours from a training run record (``train_s`` or
``wall_s``; the GPU from the record's Modal config when it ran on Modal, ``cpu`` otherwise).
:func:`cost_markdown` renders an estimate for the PR report (text is escaped).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import InputError
from ..textsafety import escape_markdown


def price_per_label(prices: Mapping[str, float], vendor: str | None) -> float:
    if vendor and vendor in prices:
        return float(prices[vendor])
    if "default" in prices:
        return float(prices["default"])
    raise InputError(f"no price per label for vendor {vendor!r} and no `default` in cost.price_per_label ({', '.join(sorted(prices))})")


def annotation_cost(
    items: int, labels_per_item: int, vendor: str | None, prices: Mapping[str, float], gold_rate: float = 0.0
) -> dict[str, Any]:
    """``{vendor, items, labels_per_item, labels, gold_labels, price_per_label, cost}``."""
    if items < 0 or labels_per_item < 1:
        raise InputError(f"items must be >= 0 and labels per item >= 1 (got {items}, {labels_per_item})")
    if not 0 <= gold_rate < 1:
        raise InputError(f"gold_rate must be in [0, 1), got {gold_rate}")
    price = price_per_label(prices, vendor)
    labels = items * labels_per_item
    gold = math.ceil(labels * gold_rate / (1 - gold_rate) - 1e-9) if gold_rate else 0
    return {
        "vendor": vendor or "default",
        "items": items,
        "labels_per_item": labels_per_item,
        "labels": labels,
        "gold_labels": gold,
        "price_per_label": price,
        "cost": round((labels + gold) * price, 2),
    }


def parse_gpu(spec: str) -> tuple[str, int]:
    """``TYPE[:COUNT]`` -> (type, count)."""
    kind, _, count = spec.partition(":")
    try:
        n = int(count or 1)
    except ValueError:
        raise InputError(f"GPU {spec!r}: the count after ':' must be a number (e.g. A100-80GB:4)") from None
    if not kind or n < 1:
        raise InputError(f"GPU {spec!r} must look like H100 or A100-80GB:4")
    return kind, n


def gpu_cost(gpu_hours: float, gpu: str, prices: Mapping[str, float]) -> dict[str, Any]:
    """``{gpu, count, gpu_hours, price_per_gpu_hour, cost}``; ``gpu_hours`` is wall-clock hours."""
    if gpu_hours < 0:
        raise InputError(f"GPU-hours must be >= 0, got {gpu_hours}")
    kind, count = parse_gpu(gpu)
    if kind not in prices:
        raise InputError(f"no price for GPU {kind!r} in cost.gpu_hour ({', '.join(sorted(prices))}); add it")
    price = float(prices[kind])
    return {"gpu": kind, "count": count, "gpu_hours": round(gpu_hours * count, 4), "price_per_gpu_hour": price,
            "cost": round(gpu_hours * count * price, 2)}


def run_gpu_usage(record: Mapping[str, Any]) -> tuple[float, str]:
    """(wall-clock hours, GPU spec) of a training run record."""
    seconds = record.get("train_s") or record.get("wall_s")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        raise InputError("the run record has no train_s or wall_s: give --gpu-hours instead")
    gpu = "cpu"
    if record.get("backend") == "modal":
        gpu = ((record.get("config") or {}).get("modal") or {}).get("gpu") or "H100"
    return float(seconds) / 3600, gpu


def plan_label_counts(plan: Mapping[str, Any]) -> int:
    """Items of a plan (``Plan.to_dict()`` or its ``items`` list)."""
    if isinstance(plan.get("items"), list):
        return len(plan["items"])
    if isinstance(plan.get("selected"), int):
        return int(plan["selected"])
    raise InputError("the plan has neither `items` nor `selected`: give the JSON `alignment-ci queue plan` writes")


def cost_estimate(
    *,
    prices: Any,
    items: int = 0,
    vendor: str | None = None,
    labels_per_item: int = 3,
    gold_rate: float = 0.0,
    gpu_hours: float | None = None,
    gpu: str | None = None,
    currency: str = "USD",
) -> dict[str, Any]:
    """Annotation and GPU cost together; ``prices`` is the config's ``cost`` section."""
    annotation = annotation_cost(items, labels_per_item, vendor, prices.price_per_label, gold_rate) if items else None
    compute = gpu_cost(gpu_hours, gpu or "cpu", prices.gpu_hour) if gpu_hours is not None else None
    total = (annotation["cost"] if annotation else 0.0) + (compute["cost"] if compute else 0.0)
    return {"currency": currency, "annotation": annotation, "gpu": compute, "total": round(total, 2)}


def cost_markdown(estimate: Mapping[str, Any]) -> str:
    """A small Markdown table of an estimate, for the PR report."""
    cur = escape_markdown(str(estimate.get("currency", "USD")), 8)
    lines = ["| cost | quantity | unit price | amount |", "| --- | ---: | ---: | ---: |"]
    a = estimate.get("annotation")
    if a:
        lines.append(
            f"| annotation ({escape_markdown(a['vendor'], 64)}) | {a['items']} items x {a['labels_per_item']} labels"
            f" + {a['gold_labels']} gold = {a['labels'] + a['gold_labels']} labels | {a['price_per_label']:.2f} {cur} | {a['cost']:.2f} {cur} |"
        )
    g = estimate.get("gpu")
    if g:
        lines.append(f"| GPU ({escape_markdown(g['gpu'], 32)} x{g['count']}) | {g['gpu_hours']:.2f} GPU-hours | "
                     f"{g['price_per_gpu_hour']:.2f} {cur} | {g['cost']:.2f} {cur} |")
    lines.append(f"| **total** | | | **{estimate['total']:.2f} {cur}** |")
    return "\n".join(lines) + "\n"
