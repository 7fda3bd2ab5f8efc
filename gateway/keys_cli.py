"""``python -m gateway keys create|list|revoke``: manage API keys straight in the database.

This is how the first key is made (no key is needed to run it, only access to the database, as for
``migrate``). ``create`` migrates a fresh database, creates the tenant if absent and prints the new key
alone on the last line of standard output, so scripts can take it with ``tail -n 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.auth.keys import SCOPES, hash_secret, new_secret, parse_scopes, visible_prefix
from gateway.settings import load_settings
from gateway.store import create_engine, migrate
from gateway.store import tenants as store
from gateway.store.models import DEFAULT_TENANT, utcnow


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="create, list or revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key and print it (last line of stdout)")
    create.add_argument(
        "--tenant", default=None, help=f"the key's tenant (created if absent; default {DEFAULT_TENANT!r})"
    )
    create.add_argument("--scope", action="append", default=[], choices=SCOPES, help="may repeat")
    create.add_argument("--operator", action="store_true", help="a key that manages every tenant and key")
    create.add_argument("--name", default=None, help="a label shown in key lists")
    create.add_argument("--expires-in-days", type=int, default=None)
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--tenant", default=None)
    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    engine = create_engine(load_settings().database_url)
    try:
        await migrate(engine)
        if args.action == "create":
            return await _create(engine, args)
        if args.action == "list":
            for key in await store.list_keys(engine, tenant_id=args.tenant):
                state = "revoked" if key.revoked_at else "active"
                role = "operator " if key.operator else ""
                print(f"{key.id}  {key.prefix}…  {key.tenant_id}  {role}{','.join(key.scopes)}  {state}")
            return 0
        key = await store.revoke_key(engine, key_id=args.key_id, tenant_id=None)
        print(f"revoked {key.prefix}… ({key.tenant_id})")
        return 0
    finally:
        await engine.dispose()


async def _create(engine: AsyncEngine, args: argparse.Namespace) -> int:
    if not args.scope and not args.operator:
        print("give at least one --scope (or --operator)", file=sys.stderr)
        return 2
    tenant = args.tenant or DEFAULT_TENANT
    if args.tenant is not None and not _valid_tenant(tenant):
        print(f"tenant {tenant!r}: use lower-case letters, digits, '-' and '_'", file=sys.stderr)
        return 2
    if await store.ensure_tenant(engine, tenant_id=tenant):
        print(f"created tenant {tenant!r}", file=sys.stderr)
    secret = new_secret()
    expires = utcnow() + timedelta(days=args.expires_in_days) if args.expires_in_days else None
    scopes = list(SCOPES) if args.operator and not args.scope else parse_scopes(args.scope)
    key = await store.add_key(
        engine,
        tenant_id=tenant,
        prefix=visible_prefix(secret),
        secret_hash=hash_secret(secret),
        scopes=scopes,
        operator=args.operator,
        name=args.name,
        expires_at=expires,
    )
    kind = "operator key" if args.operator else "key"
    print(f"created {kind} {key.prefix}… for tenant {tenant!r} with {', '.join(key.scopes)}", file=sys.stderr)
    print(secret)
    return 0


def _valid_tenant(tenant: str) -> bool:
    import re

    return re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", tenant) is not None
