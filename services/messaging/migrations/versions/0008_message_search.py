"""message search: PostgreSQL's GIN index over each message's text as a tsvector; on SQLite
an FTS5 table of the messages' text, kept in step by triggers

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_messages_search ON messages USING gin (to_tsvector('english', text))"
        )
        return
    op.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5("
        "message_id UNINDEXED, text, tokenize='porter unicode61')"
    )
    op.execute("INSERT INTO messages_fts (message_id, text) SELECT id, text FROM messages")
    # In step with every change of a message's text (sent, edited, deleted, erased).
    op.execute(
        "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
        "INSERT INTO messages_fts (message_id, text) VALUES (new.id, new.text); END"
    )
    op.execute(
        "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN "
        "DELETE FROM messages_fts WHERE message_id = old.id; "
        "INSERT INTO messages_fts (message_id, text) VALUES (new.id, new.text); END"
    )
    op.execute(
        "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
        "DELETE FROM messages_fts WHERE message_id = old.id; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_messages_search")
        return
    op.execute("DROP TRIGGER messages_fts_delete")
    op.execute("DROP TRIGGER messages_fts_update")
    op.execute("DROP TRIGGER messages_fts_insert")
    op.execute("DROP TABLE messages_fts")
