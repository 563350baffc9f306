"""Errors a user can act on. The CLI turns each into a message and exit code 2."""

from __future__ import annotations


class AlignmentCIError(Exception):
    """Base class: a problem the user can fix (bad input, bad config, missing file)."""

    exit_code = 2


class ConfigError(AlignmentCIError):
    """alignment.yaml is malformed: the message names the key path and the line."""


class InputError(AlignmentCIError):
    """A file or argument given on the command line cannot be used as it is."""


class StoreError(AlignmentCIError):
    """The artifact store refused an operation or holds something inconsistent."""


class IntegrityError(StoreError):
    """Stored content does not match its hash, or a log's chain is broken."""


class Rejected(AlignmentCIError):
    """The input was read and judged, and the verdict is no (exit code 1)."""

    exit_code = 1
