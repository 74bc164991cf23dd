"""Fault injection on real (moto-backed) botocore clients, below botocore's retry loop.

``Outage`` registers a ``before-send`` hook: the chosen attempts of an operation get the
error response AWS would send (S3 SlowDown/500 XML, SNS Throttling XML, DynamoDB JSON)
without reaching moto, so the retry handler of ``handlers.retry`` sees exactly what it would
see from AWS. Every other attempt goes through to moto unchanged.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def error_response(service: str, code: str, status: int, reasons: list[str] | None = None) -> Any:
    if service in ("dynamodb", "dynamodb-streams"):  # both speak JSON 1.0
        doc: dict[str, Any] = {
            "__type": f"com.amazonaws.dynamodb.v20120810#{code}",
            "message": f"injected {code}",
        }
        if reasons is not None:
            doc["CancellationReasons"] = [{"Code": r} for r in reasons]
        body = json.dumps(doc).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0"}
    elif service == "s3":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>injected {code}</Message><RequestId>r</RequestId></Error>"
        ).encode()
        headers = {"Content-Type": "application/xml"}
    else:  # query protocol (SNS, SQS query)
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>injected {code}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        ).encode()
        headers = {"Content-Type": "text/xml"}
    return AWSResponse("https://injected", status, headers, _Raw(body))


class Outage:
    """Fail the attempts of ``operation`` for which ``failing(attempt)`` is true (1-based,
    counting every HTTP attempt, retries included). With ``only``, only the attempts whose
    JSON request body it accepts count and can fail (e.g. the writes of one item, whatever
    the order in which the view's and replicator's lanes send them). Thread-safe: lanes
    send from several threads."""

    def __init__(
        self,
        client: Any,
        operation: str,
        failing: Callable[[int], bool],
        code: str,
        status: int,
        reasons: list[str] | None = None,
        only: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.service = client.meta.service_model.service_id.hyphenize()
        self.failing = failing
        self.code = code
        self.status = status
        self.reasons = reasons
        self.attempts = 0
        self.failed = 0
        self.on = True
        self.only = only
        self._lock = threading.Lock()
        client.meta.events.register(f"before-send.{self.service}.{operation}", self._hook)

    def _hook(self, request: Any = None, **_: Any) -> Any:
        if self.only is not None and not self.only(json.loads(request.body or b"{}")):
            return None
        with self._lock:
            self.attempts += 1
            if not (self.on and self.failing(self.attempts)):
                return None
            self.failed += 1
        return error_response(self.service, self.code, self.status, self.reasons)


def item(key: str, value: str) -> Callable[[dict[str, Any]], bool]:
    """``only`` for the DynamoDB writes of the item whose string attribute ``key`` is
    ``value``."""
    return lambda body: (body.get("Item") or body.get("Key") or {}).get(key) == {"S": value}


def first(n: int) -> Callable[[int], bool]:
    """The first ``n`` attempts fail (an outage that then recovers)."""
    return lambda attempt: attempt <= n


def window(start: int, n: int) -> Callable[[int], bool]:
    """Attempts ``start`` to ``start + n - 1`` fail."""
    return lambda attempt: start <= attempt < start + n


def always(_: int) -> bool:
    return True


# (service, operation, code, status, cancellation reasons) of the outages the suite injects.
KINDS: dict[str, tuple[str, str, str, int, list[str] | None]] = {
    "s3-slowdown": ("s3", "PutObject", "SlowDown", 503, None),
    "s3-500": ("s3", "PutObject", "InternalError", 500, None),
    "sns-throttling": ("sns", "PublishBatch", "Throttling", 400, None),
    "ddb-throughput": (
        "dynamodb",
        "TransactWriteItems",
        "ProvisionedThroughputExceededException",
        400,
        None,
    ),
    "ddb-conflict": (
        "dynamodb",
        "TransactWriteItems",
        "TransactionCanceledException",
        400,
        ["None", "TransactionConflict"],
    ),
}


class InFlight:
    """Count the attempts of ``operation`` in flight at once on ``client``: each attempt
    holds ``hold_s`` before it is sent, so that attempts sent concurrently overlap for
    sure; with ``meet``, the first ``meet`` attempts instead wait (at most 10 s) until all
    of them are in flight, so that ``most`` reaches ``meet`` whenever the code lets that
    many attempts run at once, however slowly threads start. ``most`` is the highest count
    seen; ``close()`` (or leaving its ``with`` block) removes the hook."""

    def __init__(self, client: Any, operation: str, hold_s: float = 0.03, meet: int = 0) -> None:
        self.service = client.meta.service_model.service_id.hyphenize()
        self.event = f"before-send.{self.service}.{operation}"
        self.client = client
        self.hold_s = hold_s
        self.meet = meet
        self.now = 0
        self.most = 0
        self.attempts = 0
        self._lock = threading.Condition()
        client.meta.events.register(self.event, self._hook)

    def _hook(self, **_: Any) -> None:
        with self._lock:
            self.now += 1
            self.attempts += 1
            self.most = max(self.most, self.now)
            meeting = self.attempts <= self.meet
            if meeting:
                self._lock.notify_all()
                self._lock.wait_for(lambda: self.attempts >= self.meet, timeout=10)
        if not meeting:
            time.sleep(self.hold_s)
        with self._lock:
            self.now -= 1

    def close(self) -> None:
        self.client.meta.events.unregister(self.event, self._hook)

    def __enter__(self) -> InFlight:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
