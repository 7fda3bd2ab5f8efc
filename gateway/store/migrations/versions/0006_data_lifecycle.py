"""Data lifecycle: which files each job uses, an outbox of file bytes to delete, per-tenant retention.

``job_files`` links a job to the registered files it takes as inputs (filled here for existing jobs from
their inputs), ``file_deletions`` records storage keys to delete in the same transaction that deletes the
rows pointing at them, and ``tenants`` gains ``retention_days`` / ``upload_ttl_hours`` overrides.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 500


def _paths(value: Any) -> Iterator[str]:
    """Every file reference (``{file, content_type, bytes, sha256}``) inside a job's inputs."""
    if isinstance(value, dict):
        if isinstance(value.get("file"), str) and "sha256" in value and "content_type" in value:
            yield value["file"]
        else:
            for item in value.values():
                yield from _paths(item)
    elif isinstance(value, list):
        for item in value:
            yield from _paths(item)


def _backfill() -> None:
    """Link every existing job to the files its inputs name (a batch of jobs at a time)."""
    conn = op.get_bind()
    jobs = sa.table("jobs", sa.column("id", sa.String), sa.column("inputs", sa.JSON))
    files = sa.table("files", sa.column("id", sa.String), sa.column("path", sa.String))
    links = sa.table("job_files", sa.column("job_id", sa.String), sa.column("file_id", sa.String))
    last = ""
    while True:
        rows = conn.execute(
            sa.select(jobs.c.id, jobs.c.inputs).where(jobs.c.id > last).order_by(jobs.c.id).limit(_BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        wanted = {(row.id, path) for row in rows for path in _paths(row.inputs)}
        if not wanted:
            continue
        ids = dict(
            conn.execute(
                sa.select(files.c.path, files.c.id).where(files.c.path.in_({p for _, p in wanted}))
            ).all()
        )
        values = [{"job_id": job, "file_id": ids[path]} for job, path in sorted(wanted) if path in ids]
        if values:
            conn.execute(sa.insert(links), values)


def upgrade() -> None:
    op.create_table(
        "job_files",
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("file_id", sa.String(64), sa.ForeignKey("files.id"), primary_key=True),
    )
    op.create_index("ix_job_files_file_id", "job_files", ["file_id"])
    op.create_index("ix_jobs_status_finished", "jobs", ["status", "finished_at"])
    op.create_table(
        "file_deletions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("prefix", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("retention_days", sa.Float, nullable=True))
        batch.add_column(sa.Column("upload_ttl_hours", sa.Float, nullable=True))
    _backfill()


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("upload_ttl_hours")
        batch.drop_column("retention_days")
    op.drop_table("file_deletions")
    op.drop_index("ix_jobs_status_finished", "jobs")
    op.drop_index("ix_job_files_file_id", "job_files")
    op.drop_table("job_files")
