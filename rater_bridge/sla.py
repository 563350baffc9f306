"""Vendor SLAs from what the bridge knows: when each batch was pushed and merged, and its rows.

For every published batch, :func:`sla_records` reads the stored, normalized Parquet and
builds the record :func:`alignment_ci.monitor.sla.batch_sla_record` defines (decisions,
rater time, Krippendorff's alpha, gold judgments); ``pushed_at`` is when the bridge
received it and ``accepted_at`` when its pull request was merged (``alignment-ci bridge
mark VENDOR BATCH merged``; pending until then). :func:`bridge_sla` hands them to
:func:`alignment_ci.monitor.sla.vendor_sla` with the ``sla:`` targets.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

from alignment_ci.monitor.sla import batch_sla_record, vendor_sla

from .db import FINAL_PUSH_STATUSES, Batch, Vendor
from .state import Bridge


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt


def sla_records(bridge: Bridge, vendor: str | None = None) -> list[dict[str, Any]]:
    """One SLA record per published batch (of ``vendor``, or of every vendor)."""
    import pandas as pd


    with bridge.read_sessions() as s:
        query = (select(Batch, Vendor.name).join(Vendor, Vendor.id == Batch.vendor_id)
                 .where(Batch.status.in_(sorted(FINAL_PUSH_STATUSES))).order_by(Vendor.name, Batch.id))
        if vendor is not None:
            query = query.where(Vendor.name == vendor)
        rows = s.execute(query).all()
        s.commit()
    records = []
    with tempfile.TemporaryDirectory(prefix="rater-bridge-sla-") as tmp:
        for batch, name in rows:
            local = bridge.store.get_blob_to_path(batch.blob_sha256, Path(tmp) / f"{batch.id}.parquet")
            df = pd.read_parquet(local)
            records.append(batch_sla_record(df, name, batch.batch_id, _utc(batch.created_at), _utc(batch.merged_at),
                                            config=bridge.config))
            local.unlink()
    return records


def bridge_sla(bridge: Bridge, vendor: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """``vendor_sla`` over the bridge's published batches, with the configured ``sla:`` targets."""

    return vendor_sla(sla_records(bridge, vendor), bridge.config.sla, now=now)
