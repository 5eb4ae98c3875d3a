"""chat: message trees (a message's parent, a conversation's active branch), answer
feedback, and a full-text index over conversation titles and messages

Revision ID: 0005_chat
Revises: 0005_evals
Create Date: 2026-11-29 01:40:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_chat"
down_revision: str | None = "0005_evals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The search index lives outside the models (see `orchestrator.conversations._search`):
# an FTS5 table kept by triggers on SQLite; expression indexes on Postgres.
FTS_TABLE = "conversation_fts"

# Lowercase Latin letters with diacritics and their plain forms, for Postgres servers
# without `unaccent`.
_FOLDED = {
    c: unicodedata.normalize("NFKD", c)[0]
    for c in map(chr, range(0xE0, 0x17F))
    if c.islower()
    and unicodedata.normalize("NFKD", c)[0].isascii()
    and len(unicodedata.normalize("NFKD", c)) > 1
}
_ACCENTED = "".join(_FOLDED)
_PLAIN = "".join(_FOLDED.values())

SQLITE_TRIGGERS = [
    """CREATE TRIGGER conversation_fts_message_insert AFTER INSERT ON messages BEGIN
        INSERT INTO conversation_fts (text, conversation_id, message_id, user_id)
        SELECT NEW.content, NEW.conversation_id, NEW.id, c.user_id
        FROM conversations c WHERE c.id = NEW.conversation_id;
    END""",
    """CREATE TRIGGER conversation_fts_message_delete AFTER DELETE ON messages BEGIN
        DELETE FROM conversation_fts WHERE message_id = OLD.id;
    END""",
    """CREATE TRIGGER conversation_fts_message_update AFTER UPDATE OF content ON messages BEGIN
        UPDATE conversation_fts SET text = NEW.content WHERE message_id = NEW.id;
    END""",
    """CREATE TRIGGER conversation_fts_title_insert AFTER INSERT ON conversations BEGIN
        INSERT INTO conversation_fts (text, conversation_id, message_id, user_id)
        VALUES (NEW.title, NEW.id, NULL, NEW.user_id);
    END""",
    """CREATE TRIGGER conversation_fts_title_update AFTER UPDATE OF title ON conversations BEGIN
        UPDATE conversation_fts SET text = NEW.title
        WHERE conversation_id = NEW.id AND message_id IS NULL;
    END""",
    """CREATE TRIGGER conversation_fts_conversation_delete AFTER DELETE ON conversations BEGIN
        DELETE FROM conversation_fts WHERE conversation_id = OLD.id;
    END""",
]


TRIGGER_NAMES = [t.split()[2] for t in SQLITE_TRIGGERS]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(
        "messages",
        recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_parent_id_messages"),
            "messages",
            ["parent_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_messages_parent", ["parent_id"], unique=False)
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active_message_id", sa.Integer(), nullable=True))
    # A linear history becomes a chain: each message below the one before it, and the
    # last one is the end of the active branch.
    op.execute(
        "UPDATE messages SET parent_id = (SELECT max(m.id) FROM messages m "
        "WHERE m.conversation_id = messages.conversation_id AND m.id < messages.id)"
    )
    op.execute(
        "UPDATE conversations SET active_message_id = (SELECT max(m.id) FROM messages m "
        "WHERE m.conversation_id = conversations.id)"
    )

    op.create_table(
        "message_feedback",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_feedback_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_message_feedback_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_feedback")),
    )
    op.create_index(
        "ix_message_feedback_message_user",
        "message_feedback",
        ["message_id", "user_id"],
        unique=True,
    )

    if sqlite:
        op.execute(
            "CREATE VIRTUAL TABLE conversation_fts USING fts5(text, conversation_id UNINDEXED, "
            "message_id UNINDEXED, user_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')"
        )
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
        op.execute(
            "INSERT INTO conversation_fts (text, conversation_id, message_id, user_id) "
            "SELECT title, id, NULL, user_id FROM conversations"
        )
        op.execute(
            "INSERT INTO conversation_fts (text, conversation_id, message_id, user_id) "
            "SELECT m.content, m.conversation_id, m.id, c.user_id FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id"
        )
    else:
        # `orch_fold`: lowercase without accents, IMMUTABLE so that indexes may use it.
        has_unaccent = op.get_bind().scalar(
            sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'unaccent'")
        )
        may_create = op.get_bind().scalar(
            sa.text(
                "SELECT has_database_privilege(current_user, current_database(), 'CREATE') "
                "OR EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'unaccent')"
            )
        )
        if has_unaccent and may_create:
            op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
            body = "SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1))"
        else:
            body = f"SELECT translate(lower($1), '{_ACCENTED}', '{_PLAIN}')"
        op.execute(
            "CREATE OR REPLACE FUNCTION orch_fold(text) RETURNS text "
            f"LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$ {body} $$"
        )
        op.execute(
            "CREATE INDEX ix_messages_fts ON messages "
            "USING gin (to_tsvector('simple', orch_fold(content)))"
        )
        op.execute(
            "CREATE INDEX ix_conversations_fts ON conversations "
            "USING gin (to_tsvector('simple', orch_fold(title)))"
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for trigger in TRIGGER_NAMES:
            op.execute(sa.text(f"DROP TRIGGER IF EXISTS {trigger}"))
        op.execute("DROP TABLE IF EXISTS conversation_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_messages_fts")
        op.execute("DROP INDEX IF EXISTS ix_conversations_fts")
        op.execute("DROP FUNCTION IF EXISTS orch_fold(text)")
    op.drop_index("ix_message_feedback_message_user", table_name="message_feedback")
    op.drop_table("message_feedback")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("active_message_id")
    with op.batch_alter_table(
        "messages",
        recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.drop_index("ix_messages_parent")
        batch_op.drop_constraint("fk_messages_parent_id_messages", type_="foreignkey")
        batch_op.drop_column("parent_id")
