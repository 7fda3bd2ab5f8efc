"""Live job events for a whole process: one :class:`EventHub` reads the event log once for every
subscriber and fans new events out in memory (SSE streams today; webhook dispatchers and other consumers
through the same :meth:`EventHub.subscribe`). See ``gateway/README.md`` (Live updates)."""

from gateway.events.hub import EventHub, Subscription
from gateway.store.events import StoredEvent

__all__ = ["EventHub", "StoredEvent", "Subscription"]
