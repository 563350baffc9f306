"""Forges: where reports, commit statuses, pull requests and deployments are published.

``open_forge(config, workspace)`` picks the implementation named by ``forge.kind``:

* ``local`` (default): :class:`~alignment_ci.forge.local.LocalForge`, files under
  ``<workspace>/.alignment-ci/forge/`` that the demo and tests read back;
* ``github``: :class:`~alignment_ci.forge.github.GitHubForge`, GitHub's REST API through
  github3.py (imported only when chosen).

The environment overrides the kind, so one alignment.yaml serves a laptop and a
workflow: ``ALIGNMENT_CI_FORGE=github``. Settings left unset come from the GitHub
Actions environment: the repository from ``GITHUB_REPOSITORY``, the API root from
``GITHUB_API_URL``, the token from the variable named by ``token_env``
(``GITHUB_TOKEN``). GitHub App credentials (for check runs) come from the variables
named by ``app_id_env``, ``app_private_key_env`` (PEM text) and, optionally,
``app_installation_id_env``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .base import (
    COMMIT_STATES,
    DEFAULT_CHECK_NAME,
    DEFAULT_STATUS_CONTEXT,
    CheckRunRef,
    CommentRef,
    Forge,
    ForgeError,
    PullRequestRef,
    RateLimited,
    comment_marker,
)
from .github import GitHubForge
from .local import LocalForge

if TYPE_CHECKING:  # config.py imports this package (ForgeSettings)
    from ..config import Config

__all__ = [
    "COMMIT_STATES",
    "DEFAULT_CHECK_NAME",
    "DEFAULT_STATUS_CONTEXT",
    "CheckRunRef",
    "CommentRef",
    "Forge",
    "ForgeError",
    "ForgeSettings",
    "PullRequestRef",
    "RateLimited",
    "comment_marker",
    "open_forge",
]

DEFAULT_API_URL = "https://api.github.com"


class ForgeSettings(BaseModel):
    """The ``forge:`` section of alignment.yaml."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    kind: Literal["local", "github"] = Field(
        "local", description="`local` (files under the workspace) or `github`; env ALIGNMENT_CI_FORGE overrides."
    )
    api_url: str | None = Field(
        None, description=f"GitHub REST API root; unset: env GITHUB_API_URL, else {DEFAULT_API_URL}."
    )
    repository: str | None = Field(None, description="owner/name; unset: env GITHUB_REPOSITORY.")
    token_env: str = Field("GITHUB_TOKEN", description="Environment variable holding the API token.")
    app_id_env: str = Field("ALIGNMENT_CI_APP_ID", description="Environment variable holding the GitHub App id.")
    app_private_key_env: str = Field(
        "ALIGNMENT_CI_APP_PRIVATE_KEY", description="Environment variable holding the GitHub App private key (PEM)."
    )
    app_installation_id_env: str = Field(
        "ALIGNMENT_CI_APP_INSTALLATION_ID",
        description="Environment variable holding the App installation id; unset: looked up for the repository.",
    )
    comment_author: str | None = Field(
        None,
        description="Login whose comments may be edited; unset: the token's user, the App's bot, "
        "or github-actions[bot] inside Actions.",
    )
    status_context: str = Field(DEFAULT_STATUS_CONTEXT, description="Commit status context (require it in branch protection).")
    check_name: str = Field(DEFAULT_CHECK_NAME, description="Name of the check run.")
    local_path: str = Field(".alignment-ci/forge", description="Directory of the local forge, relative to the workspace.")
    max_attempts: int = Field(5, ge=1, le=20, description="Attempts per GitHub call (server errors, rate limits).")
    max_wait_s: float = Field(900.0, ge=0, description="Longest rate-limit wait slept through; longer fails the step.")
    timeout_s: float = Field(30.0, gt=0, description="HTTP read timeout per request.")


def _settings_of(config: Config | ForgeSettings | None) -> ForgeSettings:
    if config is None:
        return ForgeSettings()
    if isinstance(config, ForgeSettings):
        return config
    found = getattr(config, "forge", None)
    return found if isinstance(found, ForgeSettings) else ForgeSettings()


def open_forge(
    config: Config | ForgeSettings | None = None,
    workspace: str | os.PathLike[str] = ".",
    *,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], Any] | None = None,
) -> "LocalForge | GitHubForge":
    """The forge configured by ``config`` (a Config with a ``forge`` section, a ForgeSettings, or None).

    ``workspace`` is the directory the local forge writes under (usually the directory
    of alignment.yaml). ``environ`` defaults to ``os.environ``; ``sleep`` to ``time.sleep``.
    """
    env = os.environ if environ is None else environ
    settings = _settings_of(config)
    kind = env.get("ALIGNMENT_CI_FORGE") or settings.kind
    if kind == "local":
        return LocalForge.for_workspace(workspace, settings.local_path)
    if kind == "github":
        return GitHubForge.from_settings(settings, environ=env, sleep=sleep)
    raise ForgeError(f"unknown forge {kind!r} (from ALIGNMENT_CI_FORGE or forge.kind): use 'local' or 'github'")


def local_forge_dir(workspace: str | os.PathLike[str], config: Config | ForgeSettings | None = None) -> Path:
    """Where the local forge of ``workspace`` writes (for the demo and tests to read)."""
    p = Path(_settings_of(config).local_path)
    return p if p.is_absolute() else Path(workspace) / p
