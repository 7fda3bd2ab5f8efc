"""Identity and limits: API keys (hashed at rest), the principal every route runs as, per-tenant limits
counted in the database, and signed file URLs. Never imports ``gateway.api`` (import-linter checks)."""

from gateway.auth.authenticator import Authenticator
from gateway.auth.keys import SCOPES, Scope
from gateway.auth.limits import Limiter
from gateway.auth.principal import ANONYMOUS, Principal
from gateway.auth.signing import UrlSigner

__all__ = ["ANONYMOUS", "SCOPES", "Authenticator", "Limiter", "Principal", "Scope", "UrlSigner"]
