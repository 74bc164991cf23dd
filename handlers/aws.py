"""boto3 clients: created lazily on first use and cached for the life of the runtime.

boto3 itself is imported on first use too, so a handler that never reaches a sink (or a test
that injects its own client) does not pay for it. Tests replace clients with ``set_client``.

Connection pools: a botocore client keeps at most ``max_pool_connections`` connections (10 by
default, ``botocore.endpoint.MAX_POOL_CONNECTIONS``); a call made while all of them are in
use opens a connection that is thrown away afterwards (a new TLS handshake per call). The
processors that send calls concurrently therefore ``reserve`` connections when they are
built from the environment (before any client exists): a client is made with a pool of every
reservation made on it, and never less than botocore's default. Clients are made under a
lock, so processors running at once (``handlers.batch``) still make each client once (boto3's
shared session is not safe to make clients from several threads at once).
"""

from __future__ import annotations

import os
import threading
from typing import Any

__all__ = [
    "DEFAULT_POOL",
    "client",
    "error_code",
    "home_region",
    "pool_size",
    "reserve",
    "reset_clients",
    "set_client",
]

# botocore's max_pool_connections default: the calls one client keeps connections for.
DEFAULT_POOL = 10

_clients: dict[tuple[str, str], Any] = {}
_reserved: dict[tuple[str, str], dict[str, int]] = {}
_lock = threading.Lock()


def home_region() -> str:
    """The function's region ('' when the environment names none)."""
    return os.environ.get("AWS_REGION", "") or os.environ.get("AWS_DEFAULT_REGION", "")


def _key(service: str, region: str) -> tuple[str, str]:
    # The function's own region is the default client's: one key for both spellings.
    return (service, "" if not region or region == home_region() else region)


def reserve(service: str, owner: str, connections: int, region: str = "") -> None:
    """Reserve ``connections`` of the pool of ``service``'s client (in ``region``; '' = the
    function's) for the calls ``owner`` (a processor) makes at once. Building ``owner``
    again replaces its reservation. Made before the client is (``client`` reads them)."""
    with _lock:
        _reserved.setdefault(_key(service, region), {})[owner] = connections


def pool_size(service: str, region: str = "") -> int:
    """Connections the client of ``service`` (in ``region``) keeps: every reservation on it,
    at least ``DEFAULT_POOL``."""
    return _pool(_key(service, region))


def _pool(key: tuple[str, str]) -> int:
    return max(DEFAULT_POOL, sum(_reserved.get(key, {}).values()))


def client(service: str, region: str = "") -> Any:
    """The cached client for ``service`` in ``region`` ('' = the function's region): bounded
    timeouts, a connection pool sized by ``pool_size``, and retries of transient errors by
    ``handlers.retry`` (bounded, jittered, within the invocation's budget) instead of
    botocore's own, which does not know the function's timeout."""
    key = _key(service, region)
    found = _clients.get(key)
    if found is None:
        with _lock:
            found = _clients.get(key)
            if found is None:
                found = _clients[key] = _make(key)
    return found


def _make(key: tuple[str, str]) -> Any:
    import boto3
    from botocore.config import Config

    from handlers import retry

    service, region = key
    extra = {"region_name": region} if region else {}
    made = boto3.client(
        service,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=3,
            read_timeout=15,
            max_pool_connections=_pool(key),
        ),
        **extra,
    )
    return retry.install(made)


def set_client(service: str, value: Any, region: str = "") -> None:
    """Use ``value`` as the client of ``service`` (in ``region``) from now on (tests)."""
    with _lock:
        _clients[_key(service, region)] = value


def reset_clients() -> None:
    """Forget every client and reservation (tests change the environment between cases)."""
    with _lock:
        _clients.clear()
        _reserved.clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ('' for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
