"""Stubbed sink clients for the CPU figures: they count calls and answer like AWS, nothing more.

A call to moto costs milliseconds and would swamp a per-record comparison, so every contender
gets the same stub; the API-call figures are taken against moto instead (``bench.api``).
With ``keep=True`` the stub also keeps each call's parameters (the smoke test compares them).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["CountingClient"]


class _Pipeline:
    """A redis-py pipeline on the stub: commands queued, one round trip (``EVALSHA``, the
    cache's script; every write applied) when executed."""

    def __init__(self, client: CountingClient) -> None:
        self.client = client
        self.commands: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any) -> None:
        self.commands.append(args)

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        self.client._note("EVALSHA", {"commands": self.commands})
        return [1] * len(self.commands)


def _answered_empty(operation: str) -> Callable[..., dict[str, Any]]:
    """A client method for ``operation`` that counts the call and answers ``{}``."""

    def call(self: CountingClient, **params: Any) -> dict[str, Any]:
        self._note(operation, params)
        return {}

    return call


class CountingClient:
    """Stands in for the S3, SNS, EventBridge and DynamoDB clients (the methods the processors
    call), and for a redis-py client (the cache processor's pipelines, the Powertools
    contender's ``SET``/``DEL``)."""

    def __init__(self, keep: bool = False) -> None:
        self.calls: Counter[str] = Counter()
        self.keep = keep
        self.log: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()  # the view's and replicator's lanes call from threads

    def _note(self, operation: str, params: dict[str, Any]) -> None:
        with self._lock:
            self.calls[operation] += 1
            if self.keep:
                self.log.append((operation, params))

    def pipeline(self, transaction: bool = True) -> _Pipeline:
        return _Pipeline(self)

    def script_load(self, script: str) -> str:
        self._note("SCRIPT LOAD", {"script": script})
        return ""

    def set(self, name: str, value: str) -> bool:
        self._note("SET", {"name": name, "value": value})
        return True

    def delete(self, *names: str) -> int:
        self._note("DEL", {"names": names})
        return len(names)

    def put_object(self, **params: Any) -> dict[str, Any]:
        self._note("PutObject", params)
        return {"ETag": '"0"'}

    def publish_batch(self, **params: Any) -> dict[str, Any]:
        self._note("PublishBatch", params)
        entries = params["PublishBatchRequestEntries"]
        return {"Successful": [{"Id": e["Id"], "MessageId": e["Id"]} for e in entries]}

    def put_events(self, **params: Any) -> dict[str, Any]:
        self._note("PutEvents", params)
        entries = params["Entries"]
        return {
            "FailedEntryCount": 0,
            "Entries": [{"EventId": str(i)} for i in range(len(entries))],
        }

    # DynamoDB's calls whose answer the processors do not read: counted, answered empty.
    transact_write_items = _answered_empty("TransactWriteItems")
    update_item = _answered_empty("UpdateItem")
    put_item = _answered_empty("PutItem")
    get_item = _answered_empty("GetItem")
