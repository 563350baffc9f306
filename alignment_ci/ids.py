"""The one id rule: what a vendor name, batch id, rater id, rollout id or store key may be.

Ids become path segments (manifests, local stores), S3 keys and, for vendors and batch
ids, parts of git branch names (``labels/<vendor>/<batch_id>``). One rule serves all of
them, so that an id ``validate`` accepts is one that ``ingest``, the rater bridge and the
forge accept too:

* 1 to ``max_len`` characters (128 by default) from ``A-Z a-z 0-9 . _ -``,
  starting with a letter or digit;
* and, because git refuses such ref components (``git check-ref-format``), no ``..``,
  no trailing ``.``, no ``.lock`` suffix.

The character class already leaves out everything else ``check-ref-format`` refuses
(control characters, space, ``~ ^ : ? * [ \\``, ``@{``, ``/``, a leading ``-`` or ``.``).
:func:`check_ref_name` applies git's rules to a whole ref (e.g. a branch with ``/``).

Vendor names are unique without regard to case (:func:`vendor_key`): ``ACME`` beside
``acme`` would be two vendors whose branches collide on a case-insensitive file system.
"""

from __future__ import annotations

import re

from .errors import InputError
from .textsafety import truncate

ID_MAX_LEN = 128
"""Longest vendor name, batch id or rater id."""
ID_PATTERN = rf"^[A-Za-z0-9](?:[A-Za-z0-9._-]{{0,{ID_MAX_LEN - 2}}}[A-Za-z0-9_-])?$"
""":func:`is_id` as a regular expression (for pydantic and FastAPI ``pattern=``); it cannot
say "no ``..``" or "no ``.lock`` suffix", so code checks :func:`is_id` as well."""

_CHARS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def id_pattern(max_len: int = ID_MAX_LEN) -> str:
    """:data:`ID_PATTERN` for another length limit."""
    return rf"^[A-Za-z0-9](?:[A-Za-z0-9._-]{{0,{max_len - 2}}}[A-Za-z0-9_-])?$"


def id_problem(value: object, max_len: int = ID_MAX_LEN) -> str | None:
    """Why ``value`` is not a valid id, or None when it is."""
    if not isinstance(value, str):
        return f"an id is a string, not {type(value).__name__}"
    if not value:
        return "the id is empty"
    if len(value) > max_len:
        return f"longer than {max_len} characters"
    if not _CHARS.fullmatch(value):
        return (f"use only letters, digits, '.', '_' or '-', starting with a letter or digit "
                "(no slashes, spaces or control characters)")
    if ".." in value:
        return "'..' is not allowed (path traversal; git refuses it in a branch name)"
    if value.endswith("."):
        return "a trailing '.' is not allowed (git refuses it in a branch name)"
    if value.lower().endswith(".lock"):
        return "a '.lock' suffix is not allowed (git reserves it for its lock files)"
    return None


def is_id(value: object, max_len: int = ID_MAX_LEN) -> bool:
    return id_problem(value, max_len) is None


def check_id(value: object, what: str, *, max_len: int = ID_MAX_LEN) -> str:
    """``value`` if it is a valid id, else :class:`InputError` naming ``what`` and the rule broken."""
    problem = id_problem(value, max_len)
    if problem is not None:
        raise InputError(f"invalid {what} {truncate(str(value), 80)!r}: {problem}")
    return value  # type: ignore[return-value]


def ref_name_problem(name: object) -> str | None:
    """Why git would refuse ``name`` as a branch name (``git check-ref-format --branch``), or None."""
    if not isinstance(name, str) or not name:
        return "empty or not a string"
    if name == "@":
        return "'@' alone is not a branch name"
    if name.startswith("-"):
        return "a branch name cannot start with '-'"
    if _REF_FORBIDDEN.search(name):
        return "control characters, space and ~ ^ : ? * [ \\ are not allowed"
    if ".." in name or "@{" in name or "//" in name:
        return "'..', '@{' and '//' are not allowed"
    if name.startswith("/") or name.endswith("/") or name.endswith("."):
        return "a branch name cannot start or end with '/' or end with '.'"
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return f"component {part!r} starts with '.' or ends with '.lock'"
    return None


def check_ref_name(name: object, what: str = "branch name") -> str:
    """``name`` if git accepts it as a branch name, else :class:`InputError`."""
    problem = ref_name_problem(name)
    if problem is not None:
        raise InputError(f"invalid {what} {truncate(str(name), 120)!r}: {problem}")
    return name  # type: ignore[return-value]


def vendor_key(name: str) -> str:
    """The form under which vendor names are unique (``ACME`` and ``acme`` are one vendor)."""
    return name.casefold()
