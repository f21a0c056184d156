"""Table definitions, shared by SQLite and PostgreSQL (SQLAlchemy Core).

Times are epoch seconds in a float column: portable, cheap to compare and to
aggregate by window. JSON payloads are text written with orjson, so both
databases take the same code path.
"""

from __future__ import annotations

import sqlalchemy as sa

from ._records import FLAG_COLUMNS, LATENCY_BUCKETS_MS

# 2: interaction_rollup (filled from existing interactions on upgrade).
SCHEMA_VERSION = 2

metadata = sa.MetaData()

meta = sa.Table(
    "saferollout_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

interactions = sa.Table(
    "interactions",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("version", sa.String(128), nullable=False),
    sa.Column("endpoint", sa.String(32), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("stream", sa.Boolean, nullable=False, default=False),
    sa.Column("sticky_key_hash", sa.String(32)),
    sa.Column("session_id", sa.String(256)),
    sa.Column("request_json", sa.Text),
    sa.Column("response_text", sa.Text),
    sa.Column("error_kind", sa.String(32)),
    sa.Column("ttft_ms", sa.Float),
    sa.Column("prompt_tokens", sa.Integer),
    sa.Column("completion_tokens", sa.Integer),
    sa.Column("shadow", sa.Boolean, nullable=False, default=False),
    sa.Column("retried_from", sa.String(128)),
    sa.Column("rollout_step", sa.Integer),
    sa.Column("extra_json", sa.Text),
    # Filled by the scoring worker.
    sa.Column("claimed_at", sa.Float),
    sa.Column("scored_at", sa.Float),
    sa.Column("scores_json", sa.Text),
    sa.Column("evidence_json", sa.Text),
    *(sa.Column(name, sa.Boolean) for name in FLAG_COLUMNS),
    sa.Index("ix_interactions_version_created", "version", "created_at"),
    sa.Index("ix_interactions_created", "created_at"),
    sa.Index("ix_interactions_session", "session_id"),
    # The scoring worker's queue: unscored records, oldest first.
    sa.Index(
        "ix_interactions_unscored",
        "created_at",
        sqlite_where=sa.text("scored_at IS NULL"),
        postgresql_where=sa.text("scored_at IS NULL"),
    ),
)

# Sums of interactions per (width, start second, version, shadow) at widths of
# 1 s, 60 s and 3600 s, kept in step with the rows (store/_rollup.py): a window
# is read from a few of these rows, not from every interaction in it.
ROLLUP_VALUE_COLUMNS: tuple[str, ...] = (
    "rows",  # every row (latency is summed over these)
    "requests",  # rows assigned here: not retried away to another version
    "errors",  # of those, failures that count against the version
    "retried_away",  # rows of other versions retried away from this one
    "scored",
    *FLAG_COLUMNS,
    "latency_sum",
    "latency_sumsq",
    *(f"latency_hist_{i}" for i in range(len(LATENCY_BUCKETS_MS) + 1)),
)
_FLOAT_VALUES = {"latency_sum", "latency_sumsq"}

interaction_rollup = sa.Table(
    "interaction_rollup",
    metadata,
    sa.Column("width", sa.Integer, primary_key=True),
    sa.Column("start", sa.BigInteger, primary_key=True),
    sa.Column("version", sa.String(128), primary_key=True),
    sa.Column("shadow", sa.Boolean, primary_key=True),
    *(
        sa.Column(name, sa.Float if name in _FLOAT_VALUES else sa.BigInteger, nullable=False)
        for name in ROLLUP_VALUE_COLUMNS
    ),
)

rollout_state = sa.Table(
    "rollout_state",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("state_json", sa.Text, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("rollout", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data_json", sa.Text),
    sa.Index("ix_events_rollout_id", "rollout", "id"),
)

# Preflight receipts: a passed preflight bound to the candidate's version hash.
receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("rollout", sa.String(128), nullable=False),
    sa.Column("version", sa.String(128), nullable=False),
    sa.Column("version_hash", sa.String(64), nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("data_json", sa.Text, nullable=False),
    sa.Index("ix_receipts_lookup", "rollout", "version", "version_hash"),
)

# Human review: blinded side-by-side pairs and the ratings reviewers gave them.
review_items = sa.Table(
    "review_items",
    metadata,
    sa.Column("item_id", sa.String(64), primary_key=True),
    sa.Column("set_id", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("data_json", sa.Text, nullable=False),
    sa.Index("ix_review_items_set", "set_id"),
)

review_ratings = sa.Table(
    "review_ratings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item_id", sa.String(64), nullable=False),
    sa.Column("set_id", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("reviewer", sa.String(128), nullable=False),
    sa.Column("data_json", sa.Text, nullable=False),
    sa.Index("ix_review_ratings_set", "set_id"),
)

# User feedback, explicit (POST /v1/feedback) or implicit (seen by the gateway).
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("version", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # explicit | implicit
    sa.Column("negative", sa.Boolean, nullable=False),
    sa.Column("data_json", sa.Text, nullable=False),
    sa.Index("ix_feedback_version_created", "version", "created_at"),
    sa.Index("ix_feedback_request", "request_id"),
)

# Leader election: one row per lease; `token` grows on every change of holder
# (a fencing token: writes made under an older token are refused).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("token", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

# Admin actions received by a replica that does not lead, for the leader to run.
admin_commands = sa.Table(
    "admin_commands",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("rollout", sa.String(128), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("body_json", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),  # pending | done | refused | failed
    sa.Column("result_json", sa.Text),
    sa.Column("finished_at", sa.Float),
    sa.Index("ix_admin_commands_pending", "rollout", "status", "id"),
)

# The leader's latest judgement, so every replica's /admin/analysis answers the same.
judgements = sa.Table(
    "judgements",
    metadata,
    sa.Column("rollout", sa.String(128), primary_key=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("data_json", sa.Text, nullable=False),
)
