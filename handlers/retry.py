"""Budget-aware retries of transient AWS errors, inside the invocation's time budget.

botocore's own retry handler does not know when the function will be killed: with its
defaults (exponential backoff up to 20 s per attempt) a throttled sink can take a function
past its timeout, and a killed function reports nothing, so Lambda retries the whole batch.
Clients made by ``aws.client`` therefore keep botocore's retries off (one attempt) and get
this module's handler on botocore's ``needs-retry`` event instead:

* retried: the codes ``handlers.errors`` classifies ``RETRY`` (throttling and transient codes
  such as ``SlowDown``, ``Throttling``, ``ProvisionedThroughputExceededException``, SNS's
  ``Throttled`` and ``KMSThrottling``), any HTTP 5xx,
  connection errors and timeouts, and a ``TransactionCanceledException`` whose reasons are
  only throttling or transaction conflicts (never a ``ConditionalCheckFailed``: that is an
  answer, not an outage);
* at most ``Policy.attempts`` attempts in all, with "full jitter" exponential backoff
  (uniform in ``[0, min(cap, base * 2**n)]``);
* never past the budget: while a processor runs (``budgeted``), a retry is made only when
  the budget still has the delay plus ``Policy.reserve`` seconds for the attempt itself;
  outside one (checkpoint writes of the engine) the attempts bound alone applies.

When retries stop, the error reaches the processor, which reports the record as a
``Failure.TRANSIENT`` partial failure (Lambda redelivers from it).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from handlers import errors

__all__ = [
    "POLICY",
    "RETRYABLE_CODES",
    "Policy",
    "budgeted",
    "install",
    "is_retryable",
    "retry_delay",
    "set_policy",
]

# Error codes retried: handlers.errors' RETRY codes of every service (SNS's Throttled and
# KMSThrottling, EventBridge's InternalFailure, S3's SlowDown, DynamoDB's throttling, ...) and
# botocore's standard-mode throttling and transient codes.
RETRYABLE_CODES = errors.RETRYABLE_CODES
# Cancellation reasons of a transaction that a retry can get past.
_TRANSIENT_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)


@dataclass(frozen=True, slots=True)
class Policy:
    attempts: int = 5  # attempts in all, the first one included
    base: float = 0.05  # seconds: the first backoff is at most this
    cap: float = 1.0  # seconds: no single backoff above this
    reserve: float = 0.5  # seconds the budget must keep for the retried attempt itself


POLICY = Policy()
_policy: list[Policy] = [POLICY]  # the active policy (tests replace it)
_budget: ContextVar[Any] = ContextVar("retry_budget", default=None)
_random = random.Random()

T = TypeVar("T")


def set_policy(policy: Policy) -> None:
    """Use ``policy`` from now on (tests use short backoffs)."""
    _policy[0] = policy


def budgeted(method: Callable[..., T]) -> Callable[..., T]:
    """Decorate ``process(self, records, batch)``: AWS calls made while it runs retry only
    within ``batch.budget``."""

    @functools.wraps(method)
    def wrapper(self: Any, records: Any, batch: Any) -> T:
        token = _budget.set(getattr(batch, "budget", None))
        try:
            return method(self, records, batch)
        finally:
            _budget.reset(token)

    return wrapper


def is_retryable(response: Any, caught_exception: BaseException | None) -> bool:
    """Whether a botocore response (``(http, parsed)``) or exception is worth retrying."""
    if caught_exception is not None:
        from botocore.exceptions import (
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        return isinstance(
            caught_exception,
            (ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError),
        )
    if not response:
        return False
    http, parsed = response
    status = int(getattr(http, "status_code", 0) or 0)
    error = parsed.get("Error") if isinstance(parsed, dict) else None
    code = str(error.get("Code", "")) if isinstance(error, dict) else ""
    if code == "TransactionCanceledException":
        reasons = {str(r.get("Code")) for r in parsed.get("CancellationReasons") or ()}
        reasons.discard("None")
        return bool(reasons) and reasons <= _TRANSIENT_REASONS
    if code in RETRYABLE_CODES:
        return True
    return status >= 500


def retry_delay(attempts: int, budget: Any, policy: Policy | None = None) -> float | None:
    """Seconds to wait before attempt ``attempts + 1``, or None to stop retrying."""
    policy = policy or _policy[0]
    if attempts >= policy.attempts:
        return None
    delay = _random.uniform(0.0, min(policy.cap, policy.base * (2 ** (attempts - 1))))
    if budget is not None and budget.remaining() < delay + policy.reserve:
        return None
    return delay


def _needs_retry(
    response: Any = None,
    attempts: int = 1,
    caught_exception: BaseException | None = None,
    **_: Any,
) -> float | None:
    if not is_retryable(response, caught_exception):
        return None
    return retry_delay(attempts, _budget.get())


def install(client: Any) -> Any:
    """Register the budget-aware retry handler on a botocore client; returns the client.

    Make the client with ``retries={"mode": "standard", "total_max_attempts": 1}`` so
    botocore's own handler never retries."""
    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"needs-retry.{service}", _needs_retry, unique_id="ddbt-retry")
    return client
