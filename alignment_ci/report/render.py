"""Jinja2 environment shared by every report; untrusted text goes through filters.

``md`` escapes for GitHub Markdown (HTML, links, images, @mentions, #refs, PII, length),
``html`` for HTML. Templates never print vendor text without one of them.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import jinja2
import markupsafe

from ..textsafety import escape_html, escape_markdown


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _pct(value: Any, digits: int = 1) -> str:
    f = _number(value)
    return "–" if f is None else f"{100 * f:.{digits}f}%"


def _num(value: Any, digits: int = 3) -> str:
    """A number for a table cell; anything that is not a finite number prints as ``–``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    f = _number(value)
    return "–" if f is None else f"{f:.{digits}f}"


def _signed(value: Any, digits: int = 3) -> str:
    f = _number(value)
    return "–" if f is None else f"{f:+.{digits}f}"


def _usd(value: Any) -> str:
    f = _number(value)
    return "–" if f is None else f"${f:,.2f}"


_CODE_UNSAFE = re.compile(r"[^0-9A-Za-z._:/+=-]")


def _code(value: Any, limit: int = 64) -> str:
    """An identifier (hash, run key, stage) for inline code: a safe character set, bounded length."""
    if value is None:
        return "–"
    return _CODE_UNSAFE.sub("_", str(value))[:limit] or "–"


def _details(details: Any, limit: int = 12) -> str:
    """Scalar entries of a gate's ``details`` as ``key: value; …`` (lists and tables are shown elsewhere).

    A ``reason`` entry comes first. The result is plain text: escape it for the medium.
    """
    if details is None:
        return ""
    if not isinstance(details, dict):
        return str(details)
    items = sorted(details.items(), key=lambda kv: (kv[0] != "reason", str(kv[0])))
    parts = []
    for key, value in items:
        if isinstance(value, (list, tuple, dict, set)):
            continue
        if isinstance(value, float):
            value = f"{value:.4g}"
        parts.append(str(value) if key == "reason" else f"{key}: {value}")
        if len(parts) >= limit:
            break
    return "; ".join(parts)


def _cell(value: Any) -> markupsafe.Markup:
    """A gate-detail table cell for HTML: numbers formatted, everything else escaped text
    (nested values as compact JSON), PII redacted, length bounded."""
    import json

    if isinstance(value, float):
        return markupsafe.Markup(_num(value, 4))
    if isinstance(value, (dict, list, tuple)):
        value = json.dumps(value, default=str, ensure_ascii=False)
    return markupsafe.Markup(escape_html("" if value is None else str(value), 4000))


def _lowest_alpha(health: dict[str, Any]) -> float | None:
    alphas = [_number(d.get("krippendorff_alpha")) for d in ((health.get("agreement") or {}).get("dimensions") or {}).values()]
    alphas = [a for a in alphas if a is not None]
    return min(alphas) if alphas else None


details_text = _details


def _md(text: Any, limit: int = 500) -> str:
    """:func:`escape_markdown` for a template value (None renders as empty)."""
    return escape_markdown("" if text is None else str(text), limit)


_FILTERS = {
    "pct": _pct,
    "num": _num,
    "signed": _signed,
    "usd": _usd,
    "code": _code,
    "details": _details,
    "lowest_alpha": _lowest_alpha,
}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("alignment_ci.report", "templates"),
        autoescape=False,  # Markdown templates: escaping is explicit, per medium, via filters
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=_md, html=escape_html, **_FILTERS)
    return env


def _html_markup(text: Any, limit: int = 2000) -> markupsafe.Markup:
    return markupsafe.Markup(escape_html("" if text is None else str(text), limit))


@lru_cache(maxsize=1)
def html_environment() -> jinja2.Environment:
    """The environment of HTML templates: autoescaping on, as a net under the explicit ``html`` filter
    (which also redacts PII and bounds length)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("alignment_ci.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(html=_html_markup, cell=_cell, **_FILTERS)
    return env


def render_html_template(template: str, **context: Any) -> str:
    return html_environment().get_template(template).render(**context)


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def render_health_markdown(health: dict[str, Any]) -> str:
    """The label-health section of the PR report."""
    return render("health.md.j2", h=health)
