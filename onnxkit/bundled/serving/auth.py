"""Bearer-token authentication, for HTTP (``Authorization: Bearer <token>``) and gRPC (the
same ``authorization`` metadata): compared in constant time, refused with 401 /
``UNAUTHENTICATED`` and a ``WWW-Authenticate`` challenge.

The rule for when a token is needed lives here too (:func:`required_token`): a server that
binds beyond loopback refuses to start without one, unless authentication is turned off
explicitly. Health probes (``/v2/health/live``, ``/v2/health/ready``, gRPC ``ServerLive``
and ``ServerReady``) stay open for orchestrators; ``/metrics`` is guarded unless opened.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from .protocol import RequestError, ServerError

TOKEN_ENV = "ONNXKIT_SERVE_TOKEN"
REALM = 'Bearer realm="onnxkit"'


class TokenCheck:
    """Whether a request's ``authorization`` header carries the server's token."""

    def __init__(self, token: str | None):
        self._token = None if token is None else token.encode()

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def check(self, authorization: str | None) -> None:
        """Nothing when the header is right (or no token is set); else a 401."""
        if self._token is None:
            return
        if not authorization:
            raise RequestError("this server needs a token: send the header 'Authorization: "
                               "Bearer <token>'", 401, {"WWW-Authenticate": REALM})
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                  self._token):
            raise RequestError("the token is not this server's: send 'Authorization: Bearer "
                               "<token>' with the token the server was started with", 401,
                               {"WWW-Authenticate": f'{REALM}, error="invalid_token"'})


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve beyond this machine


def required_token(host: str, token: str | None, *, no_auth: bool = False) -> str | None:
    """The token a server on ``host`` uses: the one given; none on loopback; beyond
    loopback a :class:`ServerError` (refused: anyone who reaches the port could infer) unless
    ``no_auth`` says so explicitly."""
    if token is not None:
        if len(token) < 16 or any(c.isspace() for c in token):
            raise ServerError("the token must be at least 16 characters without spaces, e.g. "
                             f"{new_token()!r}")
        return token
    if no_auth or is_loopback(host):
        return None
    raise ServerError(f"binding to {host} exposes the model beyond this machine: set a token "
                     f"(--token, or the {TOKEN_ENV} environment variable; e.g. "
                     f"{new_token()!r}), or pass --no-auth to serve without one on purpose")


def new_token() -> str:
    return secrets.token_urlsafe(24)
