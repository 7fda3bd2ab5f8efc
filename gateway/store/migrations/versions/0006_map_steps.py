"""Map steps: a step row says whether it is a map step, and an item's row (``draw[3]``) names its parent
step and its 0-based index.

Item rows are inserted by the runner when their map step starts (the number of items is known only then);
ordinary steps keep both columns NULL.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("parent", sa.String(100), nullable=True))
        batch.add_column(sa.Column("item_index", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("is_map", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("is_map")
        batch.drop_column("item_index")
        batch.drop_column("parent")
