"""Errors a user can act on. The CLI turns each into a message and exit code 2."""

from __future__ import annotations

from pydantic_core import PydanticCustomError

# The pydantic error type of :func:`config_problems`.
CONFIG_PROBLEMS = "config_problems"


class AlignmentCIError(Exception):
    """Base class: a problem the user can fix (bad input, bad config, missing file)."""

    exit_code = 2


class ConfigError(AlignmentCIError):
    """alignment.yaml is malformed: the message names the key path and the line."""


class InputError(AlignmentCIError):
    """A file or argument given on the command line cannot be used as it is."""


class LimitExceeded(InputError):
    """Input over one of the configured limits (``validation.limits.*``), found before the
    expensive work. A rejection, so the CLI exits 1; ``setting`` names the config key,
    ``limit`` its value, ``line`` (and ``column``) where in the file, ``http_status`` the
    answer a service gives (413 for sizes, 422 for structure). It is an :class:`InputError`,
    so code that answers unreadable input already answers it."""

    exit_code = 1

    def __init__(self, message: str, *, setting: str, limit: float, line: int | None = None,
                 column: str | None = None, http_status: int = 422) -> None:
        super().__init__(message)
        self.setting = setting
        self.limit = limit
        self.line = line
        self.column = column
        self.http_status = http_status


class StoreError(AlignmentCIError):
    """The artifact store refused an operation or holds something inconsistent."""


class IntegrityError(StoreError):
    """Stored content does not match its hash, or a log's chain is broken."""


class Rejected(AlignmentCIError):
    """The input was read and judged, and the verdict is no (exit code 1)."""

    exit_code = 1


def config_problems(problems: list[tuple[tuple[str, ...], str, str]]) -> PydanticCustomError:
    """A validation error for a config validator to raise that carries several problems, each
    ``(key path relative to the validated model, "key" | "value", message)``:
    :func:`alignment_ci.config.parse_config` reports each at the file, line and column of
    that key or value."""
    return PydanticCustomError(CONFIG_PROBLEMS, "{summary}", {
        "summary": "; ".join(f"{'.'.join(path)}: {message}" for path, _, message in problems),
        "problems": [{"path": list(path), "at": at, "message": message} for path, at, message in problems],
    })
