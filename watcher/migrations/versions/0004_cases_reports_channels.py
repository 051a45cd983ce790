"""cases, their items and notes; monthly report runs; an alert's channel

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("assignee", sa.String(length=200), nullable=False),
        sa.Column("police_reference", sa.String(length=200), nullable=False),
        sa.Column("platform_reference", sa.String(length=200), nullable=False),
        sa.Column("sender_platform", sa.String(length=32), nullable=True),
        sa.Column("sender_id", sa.String(length=128), nullable=True),
        sa.Column("auto_key", sa.String(length=200), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("auto_key", name="uq_cases_auto_key"),
    )
    op.create_index("ix_cases_member", "cases", ["member_id"])
    op.create_table(
        "case_items",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("case_id", "item_id"),
    )
    op.create_index("ix_case_items_item", "case_items", ["item_id"])
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_notes_case", "case_notes", ["case_id"])
    op.create_table(
        "report_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("group_name", sa.String(length=200), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipients_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("month", "group_name", name="uq_report_runs_month_group"),
    )
    # A sender's history (the same author across a member's accounts) is looked up per alert.
    op.create_index("ix_items_platform_author", "items", ["platform", "author_id"])
    # Who holds an alert's lease (host:pid:start), so a restart can release a dead one's.
    op.add_column("alerts", sa.Column("claimed_by", sa.String(length=200), nullable=True))
    op.add_column("alerts", sa.Column("channel", sa.String(length=16), nullable=False,
                                      server_default="email"))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("channel")
        batch.drop_column("claimed_by")
    op.drop_table("report_runs")
    op.drop_index("ix_items_platform_author", table_name="items")
    op.drop_index("ix_case_notes_case", table_name="case_notes")
    op.drop_table("case_notes")
    op.drop_index("ix_case_items_item", table_name="case_items")
    op.drop_table("case_items")
    op.drop_index("ix_cases_member", table_name="cases")
    op.drop_table("cases")
