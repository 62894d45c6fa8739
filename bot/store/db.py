"""Engine creation and versioned migrations, safe when several replicas start together."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Text,
    create_engine,
    event,
    func,
    insert,
    inspect,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.store.boundary import DEFAULT_TIMEOUT_SECONDS, DatabaseTimeout, on_event_loop
from bot.store.schema import (
    DECISION_PER_USER,
    HOME_TABLES,
    OUTCOME_TABLES,
    approvers,
    away_periods,
    company_leases,
    decisions,
    discovery_settings,
    finance_threads,
    home_users,
    invitations,
    message_reminders,
    metadata,
    outcome_mutes,
    precoro_findings,
    requester_outcomes,
    schema_migrations,
    webhook_hints,
)


def _create_home_tables(conn: Connection) -> None:
    """App Home viewers, reminders and digests."""
    home_users.create(conn, checkfirst=True)
    message_reminders.create(conn, checkfirst=True)



def _slack_oauth_tables(conn: Connection) -> None:
    """The tables of Bolt's SQLAlchemy installation and OAuth state stores (several workspaces)."""
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore as Installs
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore as States

    tables = MetaData()
    Installs.build_installations_table(tables, Installs.default_installations_table_name)
    Installs.build_bots_table(tables, Installs.default_bots_table_name)
    States.build_oauth_states_table(tables, States.default_table_name)
    for table in tables.tables.values():  # sealed tokens are longer than the 200 characters allowed
        for column in table.columns:
            if column.name.endswith("_token"):
                column.type = Text()
    tables.create_all(conn)


def _approver_checks(conn: Connection) -> None:
    """approvers.check_at / checks: when a refused token is asked again, and how often it failed.
    (A database created by version 1 from today's schema has them already.)"""
    have = {c["name"] for c in inspect(conn).get_columns("approvers")}
    if "check_at" not in have:
        conn.execute(text("ALTER TABLE approvers ADD COLUMN check_at FLOAT"))
    if "checks" not in have:
        conn.execute(text("ALTER TABLE approvers ADD COLUMN checks INTEGER NOT NULL DEFAULT 0"))


def _discovery_type_cursors(conn: Connection) -> None:
    """discovery_settings.type_cursors: each document type's own modifiedSince base, so a run cut
    short keeps what it read completely. (A database created from today's schema has it already.)"""
    if "type_cursors" not in {c["name"] for c in inspect(conn).get_columns("discovery_settings")}:
        conn.execute(text("ALTER TABLE discovery_settings ADD COLUMN type_cursors TEXT NOT NULL DEFAULT '{}'"))


def _message_read_at(conn: Connection) -> None:
    """posted_messages.read_at: freshness per document (a click after a discovery run or a webhook's
    read does not look at Precoro first). A database created from today's schema has it already."""
    if "read_at" not in {c["name"] for c in inspect(conn).get_columns("posted_messages")}:
        conn.execute(text("ALTER TABLE posted_messages ADD COLUMN read_at FLOAT"))


def _fenced_decisions(conn: Connection) -> None:
    """Decisions get a fencing token (`claim`) and their Precoro user, unique per document.

    Older rows get their approver's email; where two rows would share (company, document, Precoro
    user), only the oldest keeps it (the others, from before the rule, stay NULL and unindexed)."""
    columns = {c["name"] for c in inspect(conn).get_columns("decisions")}
    for name, kind in (("claim", "VARCHAR(32)"), ("precoro_user", "VARCHAR(320)")):
        if name not in columns:  # a database created at version 1 after this change has them
            conn.execute(text(f"ALTER TABLE decisions ADD COLUMN {name} {kind}"))
    seen: set[tuple[str, str, str, str]] = set()
    rows = conn.execute(
        select(decisions.c.id, decisions.c.company, decisions.c.doc_type, decisions.c.idn,
               func.lower(approvers.c.email))
        .join(approvers, approvers.c.id == decisions.c.approver_id)
        .where(decisions.c.precoro_user.is_(None))
        .order_by(decisions.c.id)
    ).all()
    for decision_id, company, doc_type, idn, email in rows:
        key = (company, doc_type, idn, email.strip())
        if key not in seen:
            seen.add(key)
            conn.execute(update(decisions).where(decisions.c.id == decision_id).values(precoro_user=key[3]))
    DECISION_PER_USER.create(conn, checkfirst=True)


def _outcome_tables(conn: Connection) -> None:
    for table in (requester_outcomes, outcome_mutes, finance_threads):
        table.create(conn, checkfirst=True)


# Created by their own migrations (version 1 creates every other table of `metadata`).
_LATER_TABLES = ("company_leases", "discovery_settings", *HOME_TABLES, "webhook_hints", "precoro_findings",
                 "invitations", "away_periods", *OUTCOME_TABLES)
# Append only: version N's function runs once, in order, under a database-wide lock.
MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, lambda conn: metadata.create_all(conn, tables=[t for t in metadata.sorted_tables
                                                        if t.name not in _LATER_TABLES])),
    (2, lambda conn: company_leases.create(conn, checkfirst=True)),
    (3, _slack_oauth_tables),
    (4, lambda conn: discovery_settings.create(conn, checkfirst=True)),
    (5, _create_home_tables),  # App Home, reminders, digests
    (6, lambda conn: webhook_hints.create(conn, checkfirst=True)),
    (7, _approver_checks),  # token confirmation and re-checks
    (8, _fenced_decisions),  # fenced outbox: claim token, one decision per Precoro user
    (9, lambda conn: precoro_findings.create(conn, checkfirst=True)),  # what the bot learned of Precoro
    (10, lambda conn: invitations.create(conn, checkfirst=True)),  # approvers invited to connect themselves
    (11, lambda conn: away_periods.create(conn, checkfirst=True)),  # away mode
    (12, _outcome_tables),  # requesters told the outcome, their mutes, the finance channel's threads
    (13, _discovery_type_cursors),  # per-type discovery cursors
    (14, _message_read_at),  # when each message's document was last read for its approver
]

# What the database raises while it is unreachable, locked too long or restarting: a caller
# that can tell the user "try again" catches these (and nothing wider).
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout,
                                                     DatabaseTimeout)
_PG_MIGRATION_LOCK = 7_117_001  # arbitrary advisory-lock id for this app's migrations


def make_engine(url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Engine:
    """An engine for `sqlite:///file.db` or `postgresql://...` (psycopg 3) that gives up within
    about `timeout` seconds: on a lock, a slow statement, a connection that will not open or a
    peer that went silent (TCP keepalives and user timeout), never hanging a thread for minutes.
    It reports any statement run on the serving event loop (`boundary.guard_event_loop`)."""
    engine = _make_engine(url, timeout)
    event.listen(engine, "before_cursor_execute", on_event_loop)
    return engine


def _make_engine(url: str, timeout: float) -> Engine:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # SQLAlchemy, not pysqlite, issues BEGIN
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            # Switching a new file to WAL fails at once ("database is locked", no busy wait) when
            # another connection is doing the same: retry for up to the busy timeout.
            for attempt in range(300):
                try:
                    cursor.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or attempt == 299:
                        raise
                    time.sleep(0.1)
            cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            # WAL's recommended level: a commit survives the process being killed, and only an OS
            # crash or power loss can roll back the last commits; FULL (the default) adds an fsync
            # to every commit, ~5 ms each, blocking the event loop on every click's many writes.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin_immediate(conn) -> None:  # type: ignore[no-untyped-def]
            # Take the write lock up front: read-then-write transactions (the quota ledger)
            # must not interleave, and SQLite has no SELECT ... FOR UPDATE.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_timeout=timeout / 2,
                         connect_args=_postgres_limits(make_url(url).query.get("options"), timeout))


def _postgres_limits(options: str | tuple[str, ...] | None, timeout: float) -> dict[str, object]:
    """libpq settings that bound every wait (the URL's own `options` are kept, ours appended)."""
    ms = int(timeout * 1000)
    own = f"-c statement_timeout={ms} -c lock_timeout={ms // 2} -c idle_in_transaction_session_timeout={4 * ms}"
    given = " ".join(options) if isinstance(options, tuple) else (options or "")
    return {
        "connect_timeout": max(1, int(timeout / 2)),
        "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
        "tcp_user_timeout": ms,  # unacknowledged data: the connection is dead after this long
        "options": f"{given} {own}".strip(),
    }


def open_database(url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Engine:
    """Engine plus an up-to-date schema."""
    engine = make_engine(url, timeout=timeout)
    migrate(engine)
    return engine


def migrate(engine: Engine) -> list[int]:
    """Apply pending migrations; returns the versions applied by this call."""
    applied: list[int] = []
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # The request limits are not for migrations: another replica may hold the lock while it
            # migrates, and a migration may rewrite a large table.
            conn.execute(text("SET LOCAL statement_timeout = 0"))
            conn.execute(text("SET LOCAL lock_timeout = 0"))
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_MIGRATION_LOCK})
        schema_migrations.create(conn, checkfirst=True)
        done = set(conn.execute(select(schema_migrations.c.version)).scalars())
        for version, run in MIGRATIONS:
            if version in done:
                continue
            run(conn)
            conn.execute(insert(schema_migrations).values(version=version, applied_at=time.time()))
            applied.append(version)
    return applied
