"""Jobs, events, files and idempotency keys belong to a tenant (rows made before are the ``default``'s).

Idempotency keys become per tenant: two tenants using the same key get two jobs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _tenant() -> sa.Column:
    return sa.Column("tenant_id", sa.String(64), nullable=False, server_default="default")


def upgrade() -> None:
    for table in ("jobs", "job_events", "files"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(_tenant())
    op.create_index("ix_jobs_tenant_created", "jobs", ["tenant_id", "created_at", "id"])
    op.create_index("ix_jobs_tenant_status", "jobs", ["tenant_id", "status"])
    # The primary key of idempotency_keys widens to (tenant_id, key): rebuild the table.
    op.create_table(
        "idempotency_keys_new",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "INSERT INTO idempotency_keys_new (tenant_id, key, request_hash, job_id, created_at) "
        "SELECT 'default', key, request_hash, job_id, created_at FROM idempotency_keys"
    )
    op.drop_table("idempotency_keys")
    op.rename_table("idempotency_keys_new", "idempotency_keys")


def downgrade() -> None:
    op.create_table(
        "idempotency_keys_old",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "INSERT INTO idempotency_keys_old (key, request_hash, job_id, created_at) "
        "SELECT key, request_hash, job_id, created_at FROM idempotency_keys WHERE tenant_id = 'default'"
    )
    op.drop_table("idempotency_keys")
    op.rename_table("idempotency_keys_old", "idempotency_keys")
    op.drop_index("ix_jobs_tenant_status", "jobs")
    op.drop_index("ix_jobs_tenant_created", "jobs")
    for table in ("files", "job_events", "jobs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("tenant_id")
