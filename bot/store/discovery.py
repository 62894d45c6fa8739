"""Company discovery settings: the discovery approver, the sync cursors, fallbacks and unregistered approvers.

Each document type has its own cursor (the start of the last run that read that type's lists
completely): a run cut short after one type still moves that type on, so the next run does
not ask for the same `modifiedSince` URL (which Precoro refuses within its minute)."""

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
    cursor: float | None  # start of the last run that read every type completely
    type_cursors: dict[str, float]
    fallback_types: frozenset[str]
    unregistered: Unregistered
    note: str
    set_by: str
    updated_at: float

    @property
    def active(self) -> bool:
        return self.approver_id is not None

    def cursor_for(self, doc_type: str) -> float | None:
        """Where `doc_type`'s next read starts: its own cursor, else the whole-run one."""
        own = self.type_cursors.get(doc_type)
        return own if own is not None else self.cursor


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
            type_cursors=_cursors(m["type_cursors"]),
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
        self._upsert(company, now, approver_id=approver_id, cursor=None, type_cursors="{}", fallback_types="",
                     note=note, set_by=by, unregistered="{}")

    def turn_off_if(self, company: str, approver_id: int, *, note: str, now: float) -> bool:
        """Turn discovery off if it still uses this approver; True if this call turned it off."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(discovery_settings)
                .where((discovery_settings.c.company == company) & (discovery_settings.c.approver_id == approver_id))
                .values(approver_id=None, cursor=None, type_cursors="{}", note=note, updated_at=now)
            ).rowcount)

    def save_run(self, company: str, approver_id: int, *, cursor: float | None,
                 unregistered: Mapping[str, list[list[str]]], now: float,
                 type_cursors: Mapping[str, float] | None = None) -> bool:
        """Record a run made with `approver_id`'s token (`type_cursors`: the types it read
        completely); nothing if discovery was switched to someone else (or off) meanwhile, whose
        next run must start from its own full read."""
        values: dict[str, object] = {"unregistered": json.dumps(dict(unregistered), separators=(",", ":"))}
        if cursor is not None:
            values["cursor"] = cursor
        mine = (discovery_settings.c.company == company) & (discovery_settings.c.approver_id == approver_id)
        with self.engine.begin() as conn:
            if type_cursors:
                row = conn.execute(select(discovery_settings.c.type_cursors).where(mine)).first()
                if row is None:
                    return False
                values["type_cursors"] = json.dumps({**_cursors(row[0]), **type_cursors}, separators=(",", ":"),
                                                    sort_keys=True)
            return bool(conn.execute(update(discovery_settings).where(mine).values(updated_at=now, **values)).rowcount)

    def add_fallback(self, company: str, doc_type: str, now: float) -> bool:
        """Leave `doc_type` to per-approver polls; True if it was not already."""
        current = self.get(company)
        types = set(current.fallback_types) if current else set()
        if doc_type in types:
            return False
        self._upsert(company, now, fallback_types=",".join(sorted(types | {doc_type})))
        return True


def _cursors(raw: str | None) -> dict[str, float]:
    try:
        found = json.loads(raw or "{}")
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): float(v) for k, v in found.items() if isinstance(v, int | float)}
