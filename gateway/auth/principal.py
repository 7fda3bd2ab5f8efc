"""Who a request acts as: the tenant, the key and what that key may do."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.auth.keys import SCOPES, Scope
from gateway.store.models import DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request. Operators manage every tenant and may use every scope."""

    tenant_id: str
    key_id: str | None
    scopes: frozenset[str]
    operator: bool = False

    def can(self, scope: Scope) -> bool:
        return self.operator or scope in self.scopes


#: Every request while auth is off: the default tenant, every scope.
ANONYMOUS = Principal(DEFAULT_TENANT, None, frozenset(SCOPES), operator=True)
