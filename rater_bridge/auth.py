"""Vendors and their API tokens.

A token is ``acb_`` followed by 43 URL-safe characters (256 random bits, :func:`secrets.token_urlsafe`);
it is shown once, when issued, and stored only as its sha256. Requests send it as
``Authorization: Bearer TOKEN``; :func:`vendor_for_token` looks the hash up, so the
comparison never touches the secret itself.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from alignment_ci.ids import check_id, vendor_key
from alignment_ci.errors import InputError

from .db import Token, Vendor, utcnow

TOKEN_PREFIX = "acb_"


@dataclass(frozen=True)
class VendorIdentity:
    """The authenticated caller."""

    id: int
    name: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _issue(session: Session, vendor: Vendor) -> str:
    token = new_token()
    session.add(Token(vendor_id=vendor.id, token_hash=hash_token(token), prefix=token[:10]))
    return token


def add_vendor(session: Session, name: str) -> tuple[VendorIdentity, str]:
    """Create vendor ``name`` with its first token; returns (vendor, token). The token is not stored."""
    check_id(name, "vendor")
    same = session.scalar(select(Vendor).where(func.lower(Vendor.name) == vendor_key(name)))
    if same is not None:
        hint = "" if same.name == name else f" as {same.name!r} (vendor names are unique regardless of case)"
        raise InputError(f"vendor {name!r} already exists{hint}; issue another token with "
                         f"`alignment-ci bridge vendor token {same.name}`")
    vendor = Vendor(name=name)
    session.add(vendor)
    try:
        session.flush()
    except SAIntegrityError:
        session.rollback()
        raise InputError(f"vendor {name!r} already exists") from None
    token = _issue(session, vendor)
    session.commit()
    return VendorIdentity(vendor.id, vendor.name), token


def issue_token(session: Session, name: str) -> str:
    """A new token for an existing vendor (older tokens stay valid until revoked)."""
    vendor = session.scalar(select(Vendor).where(Vendor.name == name))
    if vendor is None:
        raise InputError(f"no vendor {name!r}; add it with `alignment-ci bridge vendor add {name}`")
    token = _issue(session, vendor)
    session.commit()
    return token


def revoke_tokens(session: Session, name: str) -> int:
    """Revoke every live token of vendor ``name``; returns how many."""
    vendor = session.scalar(select(Vendor).where(Vendor.name == name))
    if vendor is None:
        raise InputError(f"no vendor {name!r}")
    tokens = session.scalars(select(Token).where(Token.vendor_id == vendor.id, Token.revoked_at.is_(None))).all()
    for t in tokens:
        t.revoked_at = utcnow()
    session.commit()
    return len(tokens)


def list_vendors(session: Session) -> list[dict[str, object]]:
    out = []
    for vendor in session.scalars(select(Vendor).order_by(Vendor.name)):
        live = session.scalars(select(Token).where(Token.vendor_id == vendor.id, Token.revoked_at.is_(None))).all()
        out.append({"vendor": vendor.name, "tokens": [t.prefix + "…" for t in live], "created_at": vendor.created_at.isoformat()})
    return out


def vendor_for_token(session: Session, token: str) -> VendorIdentity | None:
    """The vendor a live token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.execute(
        select(Vendor.id, Vendor.name)
        .join(Token, Token.vendor_id == Vendor.id)
        .where(Token.token_hash == hash_token(token), Token.revoked_at.is_(None))
    ).first()
    return VendorIdentity(row.id, row.name) if row else None
