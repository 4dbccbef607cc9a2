"""Who may do what: bearer tokens from ``api.tokens`` (``admin`` may change things, ``site``
tokens may only make the inter-site transfer calls, ``ping`` tokens may only send pings, any
other token may read). The dashboard
keeps the same token in an HttpOnly cookie.

Tokens are compared in constant time (``hmac.compare_digest``) so response timing reveals
nothing about them, and they never appear in logs or error messages.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..engine.service import Instance
from .deps import instance_of

COOKIE = "sexton_token"
# Declares the bearer scheme in the OpenAPI schema (and on each guarded operation); the
# check itself stays ours, since the dashboard's cookie may carry the token instead.
BEARER = HTTPBearer(auto_error=False, description="A token from api.tokens")
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


class Access(IntEnum):
    PING = -1  # a job reporting in: the /ping calls only, not even reading
    SITE = 0  # another site: the transfer calls only, not even reading
    READ = 1
    ADMIN = 2


# Roles with other than read access; any other role name reads.
ROLE_ACCESS = {"admin": Access.ADMIN, "site": Access.SITE, "ping": Access.PING}


class LoginNeeded(Exception):
    """A dashboard page was asked for without a valid token: show the login form."""


def configured_tokens(instance: Instance) -> list[tuple[str, str]]:
    """(role, token) pairs in force; an empty value (an unset ``${VAR}``) grants nothing."""
    return [
        (role, token)
        for role, tokens in instance.config.settings.api.tokens.items()
        for token in ([tokens] if isinstance(tokens, str) else tokens)
        if token
    ]


def access_for(tokens: Sequence[tuple[str, str]], presented: str | None) -> Access | None:
    """The access a presented token grants, or None. With no tokens configured everyone is
    admin — the service then listens on loopback only (see ``check_listen``)."""
    if not tokens:
        return Access.ADMIN
    if not presented:
        return None
    granted: Access | None = None
    for role, token in tokens:  # compare with every token: timing shows no position
        if hmac.compare_digest(presented.encode(), token.encode()):
            level = ROLE_ACCESS.get(role, Access.READ)
            granted = level if granted is None else max(granted, level)
    return granted


def presented_token(request: Request) -> str | None:
    """The bearer token of the ``Authorization`` header, else the dashboard's cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) or None


def require(level: Access, *, also: Access | None = None) -> Callable[..., Access]:
    """A dependency for API routes: 401 without a token, 403 with one that is not enough.

    ``also`` admits one lower level besides (the transfer calls: ``site`` tokens and admin,
    but not read tokens, which must never let anyone push files).
    """

    def check(request: Request, _bearer: BearerCredentials = None) -> Access:
        return authorise(request, presented_token(request), level, also=also)

    return check


def authorise(
    request: Request, token: str | None, level: Access, *, also: Access | None = None
) -> Access:
    """The access ``token`` grants, if it is ``level`` (or ``also``); else 401 or 403."""
    granted = access_for(configured_tokens(instance_of(request)), token)
    if granted is None and not token:
        raise HTTPException(
            401,
            "a token is needed: send 'Authorization: Bearer TOKEN'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if granted is None or (granted < level and granted != also):
        wanted = (also or level).name.lower()
        raise HTTPException(403, f"this token does not allow {wanted} access")
    return granted


def require_page(level: Access) -> Callable[[Request], Access]:
    """The same check for dashboard pages, which answer with the login form instead."""
    api_check = require(level)

    def check(request: Request) -> Access:
        try:
            return api_check(request)
        except HTTPException as exc:
            if exc.status_code == 401 or request.method == "GET":
                raise LoginNeeded() from None
            raise

    return check


READ = Depends(require(Access.READ))
ADMIN = Depends(require(Access.ADMIN))
SITE = Depends(require(Access.ADMIN, also=Access.SITE))
