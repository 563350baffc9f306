"""Jinja2 environment shared by every report; untrusted text goes through filters.

``md`` escapes for GitHub Markdown (HTML, links, images, @mentions, #refs, PII, length),
``html`` for HTML. Templates never print vendor text without one of them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2

from ..textsafety import escape_html, escape_markdown


def _pct(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{100 * float(value):.{digits}f}%"


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.{digits}f}"


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
    env.filters.update(md=escape_markdown, html=escape_html, pct=_pct, num=_num)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def render_health_markdown(health: dict[str, Any]) -> str:
    """The label-health section of the PR report."""
    return render("health.md.j2", h=health)
