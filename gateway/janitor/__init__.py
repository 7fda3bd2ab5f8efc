"""The data-lifecycle janitor (runner role): retention, orphaned uploads, the file-deletion outbox, strays."""

from gateway.janitor.janitor import Janitor, Pass, drain_entries, stray_grace_seconds

__all__ = ["Janitor", "Pass", "drain_entries", "stray_grace_seconds"]
