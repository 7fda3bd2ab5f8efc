"""API key secrets: how they look, how they are hashed, what part of them may be shown."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Literal, get_args

#: What a key may do. ``metrics:read`` is for a Prometheus scraper; operators may do everything.
Scope = Literal["jobs:read", "jobs:write", "files:write", "admin", "metrics:read"]
SCOPES: tuple[Scope, ...] = get_args(Scope)

KEY_START = "mdl_"
PREFIX_LENGTH = 12  # "mdl_" + 8 characters: enough to tell keys apart, far too few to guess the rest
_KEY = re.compile(r"mdl_[A-Za-z0-9_-]{43}")


def new_secret() -> str:
    """A new key: ``mdl_`` + 32 random bytes, URL-safe base64 (43 characters)."""
    return KEY_START + secrets.token_urlsafe(32)


def looks_like_key(secret: str) -> bool:
    """True when ``secret`` has the shape of a key this gateway issues."""
    return _KEY.fullmatch(secret) is not None


def hash_secret(secret: str) -> str:
    """What is stored: SHA-256 (hex). A key has 256 random bits, so a slow password hash adds nothing."""
    return hashlib.sha256(secret.encode()).hexdigest()


def visible_prefix(secret: str) -> str:
    """The part of a key shown in lists and logs."""
    return secret[:PREFIX_LENGTH]


def parse_scopes(values: list[str]) -> list[Scope]:
    """``values`` as scopes; ValueError naming the unknown ones."""
    unknown = [value for value in values if value not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    return [value for value in SCOPES if value in values]
