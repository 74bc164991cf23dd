"""boto3 clients: created lazily on first use and cached for the life of the runtime.

boto3 itself is imported on first use too, so a handler that never reaches a sink (or a test
that injects its own client) does not pay for it. Tests replace clients with ``set_client``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["client", "error_code", "reset_clients", "set_client"]

_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """The cached client for ``service``: bounded timeouts, and retries of transient errors
    by ``handlers.retry`` (bounded, jittered, within the invocation's budget) instead of
    botocore's own, which does not know the function's timeout."""
    found = _clients.get(service)
    if found is None:
        import boto3
        from botocore.config import Config

        found = boto3.client(
            service,
            config=Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=3,
                read_timeout=15,
            ),
        )
        from handlers import retry

        retry.install(found)
        _clients[service] = found
    return found


def set_client(service: str, value: Any) -> None:
    _clients[service] = value


def reset_clients() -> None:
    _clients.clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ('' for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
