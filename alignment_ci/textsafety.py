"""Text safety: detect and neutralise PII, spreadsheet formulas, markup and over-long text.

One small module every output uses. The regular expressions are written in the common
subset of Python's ``re`` and RE2, so the same pattern runs row-by-row here and
vectorised in ``pyarrow.compute`` (RE2 is linear-time: a 1 MiB field cannot blow up).
"""

from __future__ import annotations

import hashlib
import html
import re

EMAIL_PATTERN = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
# International or North-American style numbers: 10-15 digits with separators.
PHONE_PATTERN = r"(?:\+\d{1,3}[ .\-]?)?(?:\(\d{2,4}\)[ .\-]?)?\d{2,4}[ .\-]\d{3,4}[ .\-]\d{3,4}"
PII_PATTERN = f"(?:{EMAIL_PATTERN})|(?:{PHONE_PATTERN})"
# Cells starting with these are interpreted as formulas by spreadsheet programs (OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FORMULA_PATTERN = r"^[=+\-@\t\r]"

_EMAIL_RE = re.compile(EMAIL_PATTERN)
_PHONE_RE = re.compile(PHONE_PATTERN)
_PII_RE = re.compile(PII_PATTERN)


def find_pii(text: str) -> list[str]:
    """Kinds of PII present in ``text``: ``email`` and/or ``phone``."""
    kinds = []
    if _EMAIL_RE.search(text):
        kinds.append("email")
    if _PHONE_RE.search(text):
        kinds.append("phone")
    return kinds


def redact_pii(text: str) -> str:
    """Replace e-mail addresses and phone numbers with placeholders."""
    text = _EMAIL_RE.sub("[email redacted]", text)
    return _PHONE_RE.sub("[phone redacted]", text)


def looks_like_pii(identifier: str) -> bool:
    return bool(_PII_RE.search(identifier))


def pseudonymize(identifier: str, salt: str = "alignment-ci") -> str:
    """A stable pseudonym for an identifier that looks like PII; others pass through."""
    if not looks_like_pii(identifier):
        return identifier
    digest = hashlib.sha256(f"{salt}:{identifier}".encode()).hexdigest()[:12]
    return f"rater-{digest}"


def is_formula(text: str) -> bool:
    return text.startswith(FORMULA_PREFIXES)


def neutralize_formula(text: str) -> str:
    """Prefix a formula-looking cell with a quote so spreadsheets show it as text (OWASP)."""
    return "'" + text if is_formula(text) else text


def truncate(text: str, limit: int = 500, marker: str = "…") -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


# Markdown punctuation that can start emphasis, code, links, images, tables or HTML.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|~!])")
_AUTOLINK = re.compile(r"(?i)(https?|ftp)://|www\.")


def escape_markdown(text: str, limit: int = 500) -> str:
    """Make untrusted text inert in GitHub Markdown.

    HTML is entity-escaped (no tags, no entities of the sender's), Markdown punctuation
    is backslash-escaped (no links, images, emphasis or table breaks), bare URLs are
    broken so GitHub does not autolink them, ``@mention`` and ``#123`` references are
    broken with a zero-width joiner, newlines become spaces (a table cell stays one
    cell), PII is redacted and the text is truncated.
    """
    text = truncate(redact_pii(str(text)), limit)
    text = text.replace("\r", " ").replace("\n", " ")
    text = html.escape(text, quote=False)
    text = _MD_SPECIAL.sub(r"\\\1", text).replace("](", "]\u200b(")
    text = _AUTOLINK.sub(lambda m: m.group(0).replace(":", "\u200b:").replace(".", "\u200b."), text)
    text = re.sub(r"@(?=\w)", "@\u200d", text)
    text = re.sub(r"#(?=\d)", "#\u200d", text)
    return text


def escape_html(text: str, limit: int = 2000) -> str:
    """Make untrusted text inert in HTML, with PII redacted and length bounded."""
    return html.escape(truncate(redact_pii(text), limit), quote=True)


def escape_csv_cell(text: str, limit: int = 32000) -> str:
    """Neutralise formula injection and PII for a CSV cell."""
    return neutralize_formula(truncate(redact_pii(text), limit))
