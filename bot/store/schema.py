"""Tables (SQLAlchemy Core). Times are epoch seconds (float) so pure code can compare them."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", Float, nullable=False),
)

approvers = Table(
    "approvers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company", String(40), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("slack_user_id", String(32), nullable=False),
    Column("email", String(320), nullable=False),
    Column("token_ciphertext", Text, nullable=False),
    Column("status", String(16), nullable=False, default="active"),  # active | suspect | revoked
    Column("registered_by", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("last_polled_at", Float),
    Column("docs_seen", Integer, nullable=False, default=0),
    Column("check_at", Float),  # suspect or revoked: when the token is next tried (migration 7)
    Column("checks", Integer, nullable=False, default=0),  # failed re-checks in a row (back-off)
    UniqueConstraint("company", "team_id", "slack_user_id", name="uq_approver_owner"),
)

# One row per (approver, document): the Slack message we posted, or are about to post.
posted_messages = Table(
    "posted_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("approver_id", Integer, ForeignKey("approvers.id", ondelete="CASCADE"), nullable=False),
    Column("company", String(40), nullable=False),
    Column("doc_type", String(40), nullable=False),
    Column("idn", String(64), nullable=False),
    Column("channel", String(32)),
    Column("ts", String(32)),
    Column("state", String(16), nullable=False),
    Column("document", Text, nullable=False),  # the raw Precoro JSON, to redraw the message
    Column("fingerprint", String(200), nullable=False, default=""),
    Column("first_seen_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("post_claimed_until", Float),
    # When the bot last read this document and found it waiting for this approver (a discovery run
    # or a webhook's read; migration 14): a click looks at Precoro first only when this is old.
    Column("read_at", Float),
    UniqueConstraint("approver_id", "doc_type", "idn", name="uq_message_per_approver_document"),
)
Index("ix_posted_messages_company_state", posted_messages.c.company, posted_messages.c.state)

# The outbox: a decision is written here before any POST and finished only after Precoro answers.
decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", Integer, ForeignKey("posted_messages.id", ondelete="CASCADE"), nullable=False),
    Column("approver_id", Integer, nullable=False),
    Column("company", String(40), nullable=False),
    Column("doc_type", String(40), nullable=False),
    Column("idn", String(64), nullable=False),
    Column("action", String(16), nullable=False),  # approve | reject
    Column("comment", Text, nullable=False, default=""),
    Column("clicked_by", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # pending | sending | done | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("claimed_until", Float),
    Column("outcome", String(32), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # The fencing token of the attempt that holds the decision now (a new one per claim): only its
    # holder may send the POST or change the row. (Migration 7 adds it to older databases.)
    Column("claim", String(32)),
    # The Precoro user who decides: the approver's email in that company, lower-cased. One decision
    # per (company, document, Precoro user), whichever message or Slack user clicked. NULL only on
    # rows older than migration 7 that duplicated another (unique indexes ignore NULLs).
    Column("precoro_user", String(320)),
    UniqueConstraint("message_id", name="uq_decision_per_message"),
)
Index("ix_decisions_state_next", decisions.c.state, decisions.c.next_attempt_at)
DECISION_PER_USER = Index("uq_decision_per_precoro_user", decisions.c.company, decisions.c.doc_type,
                          decisions.c.idn, decisions.c.precoro_user, unique=True)

# Every request sent (or about to be sent) to Precoro, per company: the shared quota ledger.
quota_spends = Table(
    "quota_spends",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company", String(40), nullable=False),
    Column("at", Float, nullable=False),
    Column("lane", String(16), nullable=False),
    Column("get_key", String(64)),
    Column("finished_at", Float),
    Column("status", Integer),
)
Index("ix_quota_spends_company_at", quota_spends.c.company, quota_spends.c.at)

# One row per company: the lock target for ledger updates and the 429 gate.
quota_gates = Table(
    "quota_gates",
    metadata,
    Column("company", String(40), primary_key=True),
    Column("blocked_until", Float, nullable=False, default=0.0),
    Column("blocked_reason", String(80), nullable=False, default=""),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False),
    Column("company", String(40), nullable=False),
    Column("actor", String(32), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", String(120), nullable=False, default=""),
    Column("outcome", String(64), nullable=False, default=""),
)
Index("ix_audit_log_company_at", audit_log.c.company, audit_log.c.at)

# --- App Home, reminders and digests (migration "home": created by their own version) ----------
# One row per Slack user who opened the bot's Home tab (their Home is kept current from then on),
# with the local day of their last morning digest.
home_users = Table(
    "home_users",
    metadata,
    Column("team_id", String(32), primary_key=True),
    Column("slack_user_id", String(32), primary_key=True),
    Column("home_opened_at", Float),
    Column("digest_day", String(10)),  # YYYY-MM-DD in the user's time zone
    Column("reminder_hours", Float),  # their own "remind me after N working hours"; 0 never; NULL the default
    Column("digest", Integer),  # their own morning digest choice: 1 on, 0 off, NULL the default
)

# Reminder state of a waiting message: when its approver was last reminded, and a snooze.
message_reminders = Table(
    "message_reminders",
    metadata,
    Column("message_id", Integer, ForeignKey("posted_messages.id", ondelete="CASCADE"), primary_key=True),
    Column("reminded_at", Float),
    Column("reminders", Integer, nullable=False, default=0),
    Column("snoozed_until", Float),
)
HOME_TABLES = ("home_users", "message_reminders")

# Which replica polls which company: a row claim with expiry, renewed every tick.
company_leases = Table(
    "company_leases",
    metadata,
    Column("company", String(40), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
)

# One row per company with discovery configured: whose token reads the whole company's pending
# documents, where the last complete read started, and what it learned along the way.
discovery_settings = Table(
    "discovery_settings",
    metadata,
    Column("company", String(40), primary_key=True),
    Column("approver_id", Integer),  # None: discovery is off
    Column("cursor", Float),  # start of the last complete discovery run (modifiedSince base)
    # JSON: type -> start of the last run that read that type's lists completely (its own base)
    Column("type_cursors", Text, nullable=False, default="{}"),
    Column("fallback_types", Text, nullable=False, default=""),  # types left to per-approver polls
    Column("unregistered", Text, nullable=False, default="{}"),  # JSON: "type/idn" -> [[email, name], ...]
    Column("note", String(80), nullable=False, default=""),  # why it was turned off, if it was
    Column("set_by", String(32), nullable=False, default=""),
    Column("updated_at", Float, nullable=False),
)

# Precoro webhook hints waiting for the company's polling replica: "look at this document soon".
webhook_hints = Table(
    "webhook_hints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("company", String(40), nullable=False, index=True),
    Column("doc_type", String(40), nullable=False),
    Column("idn", String(64), nullable=False),
    Column("received_at", Float, nullable=False),
)

# What the bot learned about a company's Precoro at run time or from `precoro-bot doctor`
# (e.g. "duplicate_keying" = "route"), and when the admins were told (once).
precoro_findings = Table(
    "precoro_findings",
    metadata,
    Column("company", String(40), primary_key=True),
    Column("name", String(40), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("source", String(40), nullable=False, default=""),  # "429", "discovery", "doctor"
    Column("found_at", Float, nullable=False),
    Column("told_at", Float),  # None: the admins were not told yet
)

# Approvers an admin invited to connect themselves (`/precoro invite`): one row per company and
# Precoro email, so nobody is invited twice unless an admin asks again (`invite again`).
invitations = Table(
    "invitations",
    metadata,
    Column("company", String(40), primary_key=True),
    Column("email", String(320), primary_key=True),  # lower-cased
    Column("team_id", String(32), nullable=False),
    Column("slack_user_id", String(32), nullable=False),
    Column("invited_by", String(32), nullable=False),
    Column("invited_at", Float, nullable=False),
    Column("times", Integer, nullable=False, default=1),
)

# Away mode: an approver away until a day (inclusive, in their own time zone). Reminders and digests
# pause; `cover_user` (optional) gets an FYI digest, once a day (`cover_day`); `ended_at` is set by
# `/precoro back`. The row is deleted when the return digest is claimed (so it is sent once).
away_periods = Table(
    "away_periods",
    metadata,
    Column("team_id", String(32), primary_key=True),
    Column("slack_user_id", String(32), primary_key=True),
    Column("until_day", String(10), nullable=False),  # YYYY-MM-DD, the last day away
    Column("started_at", Float, nullable=False),
    Column("cover_user", String(32)),
    Column("cover_day", String(10)),  # the cover's last FYI digest, YYYY-MM-DD in their zone
    Column("ended_at", Float),
)

# What the requester of a decided document was told (once per company, document and outcome):
# "sent", "muted", "not_in_slack", "no_email", "failed"; "claimed" while the DM is being sent.
requester_outcomes = Table(
    "requester_outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("company", String(40), nullable=False),
    Column("doc_type", String(40), nullable=False),
    Column("idn", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),  # approved | rejected | revision
    Column("requester_email", String(320), nullable=False, default=""),
    Column("slack_user_id", String(32), nullable=False, default=""),
    Column("result", String(16), nullable=False),
    Column("at", Float, nullable=False),
    UniqueConstraint("company", "doc_type", "idn", "outcome", name="uq_requester_outcome"),
)
Index("ix_requester_outcomes_company_result", requester_outcomes.c.company, requester_outcomes.c.result)

# Requesters who muted the outcome DMs (per workspace user).
outcome_mutes = Table(
    "outcome_mutes",
    metadata,
    Column("team_id", String(32), primary_key=True),
    Column("slack_user_id", String(32), primary_key=True),
    Column("at", Float, nullable=False),
)

# The finance channel's thread per document: the parent post's ts, and which lines were claimed.
finance_threads = Table(
    "finance_threads",
    metadata,
    Column("company", String(40), primary_key=True),
    Column("doc_type", String(40), primary_key=True),
    Column("idn", String(64), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("parent_ts", String(32)),  # None until the first post is recorded
    Column("waiting_at", Float),  # the "waiting for N working hours" line was claimed then
    Column("decided", String(16)),  # the final decision line claimed (its outcome)
    Column("updated_at", Float, nullable=False),
)
OUTCOME_TABLES = ("requester_outcomes", "outcome_mutes", "finance_threads")
