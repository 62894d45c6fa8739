"""Company discovery settings: the discovery approver, the sync cursor, fallbacks and unregistered approvers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.schema import discovery_settings

Unregistered = dict[str, list[list[str]]]  # "type/idn" -> [[email, name], ...]


@dataclass(frozen=True)
class DiscoverySettings:
    company: str
    approver_id: int | None
    cursor: float | None
    fallback_types: frozenset[str]
    unregistered: Unregistered
    note: str
    set_by: str
    updated_at: float

    @property
    def active(self) -> bool:
        return self.approver_id is not None


class DiscoveryRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, company: str) -> DiscoverySettings | None:
        """The company's row, or None when discovery was never set in the database (the config's
        default then applies)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(discovery_settings).where(discovery_settings.c.company == company)).first()
        if row is None:
            return None
        m = row._mapping
        try:
            unregistered = json.loads(m["unregistered"] or "{}")
        except ValueError:
            unregistered = {}
        return DiscoverySettings(
            company=m["company"], approver_id=m["approver_id"], cursor=m["cursor"],
            fallback_types=frozenset(t for t in (m["fallback_types"] or "").split(",") if t),
            unregistered=unregistered if isinstance(unregistered, dict) else {}, note=m["note"] or "",
            set_by=m["set_by"] or "", updated_at=m["updated_at"],
        )

    def _upsert(self, company: str, now: float, **values: object) -> None:
        with self.engine.begin() as conn:
            if conn.execute(update(discovery_settings).where(discovery_settings.c.company == company)
                            .values(updated_at=now, **values)).rowcount:
                return
            try:
                with conn.begin_nested():
                    conn.execute(insert(discovery_settings).values(company=company, updated_at=now, **values))
            except IntegrityError:  # another replica inserted it meanwhile
                conn.execute(update(discovery_settings).where(discovery_settings.c.company == company)
                             .values(updated_at=now, **values))

    def set_approver(self, company: str, approver_id: int | None, *, by: str, now: float, note: str = "") -> None:
        """Turn discovery on with this approver's token (a new one starts from a full read), or off."""
        self._upsert(company, now, approver_id=approver_id, cursor=None, fallback_types="", note=note, set_by=by,
                     unregistered="{}")

    def turn_off_if(self, company: str, approver_id: int, *, note: str, now: float) -> bool:
        """Turn discovery off if it still uses this approver; True if this call turned it off."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(discovery_settings)
                .where((discovery_settings.c.company == company) & (discovery_settings.c.approver_id == approver_id))
                .values(approver_id=None, cursor=None, note=note, updated_at=now)
            ).rowcount)

    def save_run(self, company: str, approver_id: int, *, cursor: float | None,
                 unregistered: Mapping[str, list[list[str]]], now: float) -> bool:
        """Record a run made with `approver_id`'s token; nothing if discovery was switched to
        someone else (or off) meanwhile, whose next run must start from its own full read."""
        values: dict[str, object] = {"unregistered": json.dumps(dict(unregistered), separators=(",", ":"))}
        if cursor is not None:
            values["cursor"] = cursor
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(discovery_settings)
                .where((discovery_settings.c.company == company) & (discovery_settings.c.approver_id == approver_id))
                .values(updated_at=now, **values)
            ).rowcount)

    def add_fallback(self, company: str, doc_type: str, now: float) -> bool:
        """Leave `doc_type` to per-approver polls; True if it was not already."""
        current = self.get(company)
        types = set(current.fallback_types) if current else set()
        if doc_type in types:
            return False
        self._upsert(company, now, fallback_types=",".join(sorted(types | {doc_type})))
        return True
