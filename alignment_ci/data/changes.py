"""Which label batches a pull request adds or changes, and their data fetched from the store.

A batch enters the repository as its manifest (``datasets_manifest/batches/V/B.yaml``);
the data lives in the artifact store under the manifest's ``sha256``. The PR workflow
validates only the batches whose manifests the pull request adds or modifies:
``git diff --name-only --diff-filter=AMR BASE...HEAD`` over the batches directory (the
three-dot form diffs against the merge base, as GitHub's "Files changed" tab does), then
each batch's normalized Parquet is fetched from the store (hash-verified) so that
``validate`` and ``quality`` run on exactly the bytes training will read.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from ..config import Config
from ..errors import InputError
from ..store import open_store
from ..ids import check_id
from .manifest import batches_dir


def _git(root: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise InputError(f"git is needed to find changed batches: {exc}") from None
    if proc.returncode != 0:
        raise InputError(
            f"git {' '.join(args)} failed in {root}: {proc.stderr.strip()}; in Actions check out with "
            "`fetch-depth: 0` so the base commit is present"
        )
    return proc.stdout


def changed_batch_manifests(config: Config, base: str, head: str = "HEAD") -> list[Path]:
    """Manifest files added, modified or renamed between the merge base of ``base`` and ``head``."""
    root = config.root.resolve()
    top = Path(_git(root, "rev-parse", "--show-toplevel").strip())
    batches = batches_dir(config).resolve()
    try:
        rel = batches.relative_to(top)
    except ValueError:
        raise InputError(f"{batches} is outside the git repository {top}") from None
    out = _git(top, "diff", "--name-only", "-z", "--diff-filter=AMR", f"{base}...{head}", "--", rel.as_posix())
    found = [top / name for name in out.split("\0") if name.endswith(".yaml")]
    return sorted(p for p in found if p.parent.parent == batches)


def changed_batches(config: Config, base: str, head: str = "HEAD", *, fetch_to: Path | None = None, store=None) -> dict[str, Any]:
    """The batches a change adds or modifies: ``{base, head, batches: [{batch_id, vendor, manifest,
    sha256, rows, task_type, file}]}``; with ``fetch_to``, each batch's Parquet is written to
    ``fetch_to/<batch_id>.parquet`` (``file``), verified against its hash on the way."""

    root = config.root.resolve()
    rows: list[dict[str, Any]] = []
    for path in changed_batch_manifests(config, base, head):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: unreadable manifest: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("sha256"), str):
            raise InputError(f"{path}: a batch manifest must be a mapping with a sha256 (written by `alignment-ci ingest`)")
        batch_id = check_id(str(data.get("batch_id", "")), "batch id")
        rel = path.relative_to(root) if path.is_relative_to(root) else path
        rows.append({
            "batch_id": batch_id,
            "vendor": data.get("vendor"),
            "manifest": rel.as_posix(),
            "sha256": data["sha256"],
            "rows": data.get("rows"),
            "task_type": data.get("task_type"),
            "file": None,
        })
    if fetch_to is not None and rows:
        store = store if store is not None else open_store(config)
        for row in rows:
            dest = Path(fetch_to) / f"{row['batch_id']}.parquet"
            store.get_blob_to_path(row["sha256"], dest)
            row["file"] = str(dest)
    return {"base": base, "head": head, "batches": rows}
