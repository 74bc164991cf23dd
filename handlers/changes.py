"""What changed in an item, as JSON text: shared by the notification and event-bus publishers.

``ChangeJson`` writes the parts of a change message that both publishers send: the table
name, the keys and images (minus redacted attributes), and ``changedAttributes`` (added,
removed and changed top-level attributes of a ``MODIFY`` with both images, comparing
*decoded* values, so set order or number formatting is not a change; a redacted attribute
is ``{"redacted": true}``). Values keep DynamoDB's exact numbers, bytes as base64 and sets
as sorted lists (``stream.to_json``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from json.encoder import encode_basestring as _quote
from typing import Any, TypeVar

from handlers import aws, errors, retry
from handlers.batch import Budget, Failure, Outcome
from handlers.codec import (
    MalformedValue,
    NumberJson,
    RecordError,
    deserialize,
    image_to_json,
    to_json,
)
from handlers.lanes import NO_KEYS, Call, run_calls
from handlers.stream import EventName, StreamRecord

__all__ = [
    "MISSING",
    "OMITTED",
    "REDACTED",
    "ChangeJson",
    "EntryResult",
    "publish_batched",
    "same",
    "send_entries",
    "utf8_len",
]

E = TypeVar("E")

REDACTED = '{"redacted":true}'
OMITTED = '{"omitted":true}'
_ABSENT: Any = object()
MISSING: Any = object()  # a call's answer has no result for the entry

# ``ChangeJson.head``'s fixed parts: by event name, and by whether TTL deleted the item.
_HEADS = {name: '{"eventName":"' + name.value + '","table":' for name in EventName}
_TAILS = {
    True: '","ttlExpired":true,"changedAttributes":',
    False: '","ttlExpired":false,"changedAttributes":',
}

# A call's answer for one entry, in request order: None when the entry was accepted, else
# (error code, message); MISSING when the answer says nothing about it.
EntryResult = tuple[str, str] | None


class ChangeJson:
    """JSON text of keys, images and changed attributes, with ``redact`` left out; ``number``
    writes each ``N`` value (default: the exact JSON number; the event bus passes its own,
    ``handlers.eventbus``)."""

    __slots__ = ("_number", "_tables", "redact")

    def __init__(self, redact: Iterable[str] = (), number: NumberJson | None = None) -> None:
        self.redact = frozenset(redact)
        self._tables: dict[str, str] = {}
        self._number: Any = number

    def table_json(self, table: str) -> str:
        """The table name as a JSON string (cached: a function sees few tables)."""
        found = self._tables.get(table)
        if found is None:
            found = self._tables[table] = _quote(table)
        return found

    def head(self, record: StreamRecord) -> str:
        """The message's text up to ``"changedAttributes":``: event name, table, keys,
        event ID, sequence number, creation time and whether TTL deleted the item."""
        # one f-string: the text is built once (a chain of + copies it at every step)
        return (
            f"{_HEADS[record.event_name]}{self.table_json(record.table_name)}"
            f',"keys":{self.image_json(record.raw_keys, "Keys")}'
            f',"eventID":{_quote(record.event_id)}'
            f',"sequenceNumber":{_quote(record.sequence_number)}'
            f',"approximateCreationDateTime":"{record.creation_iso}'
            f"{_TAILS[record.ttl_expired]}"
        )

    def image_json(self, raw: dict[str, Any], path: str) -> str:
        """A typed attribute map as a JSON object, redacted attributes left out."""
        if self.redact and not self.redact.isdisjoint(raw):
            raw = {k: v for k, v in raw.items() if k not in self.redact}
        if self._number is None:
            return image_to_json(raw, path)
        return image_to_json(raw, path, self._number)

    def value_json(self, av: Any, path: str) -> str:
        """One typed value as JSON text, numbers as ``image_json`` writes them."""
        if self._number is None:
            return to_json(av, path)
        return to_json(av, path, self._number)

    @staticmethod
    def differs(old: Mapping[str, Any], new: Mapping[str, Any], name: str) -> bool:
        """Whether attribute ``name`` changed, comparing decoded values (set order and
        number formatting are not changes; a number is never equal to a boolean)."""
        before = old.get(name, _ABSENT)
        after = new.get(name, _ABSENT)
        if before == after:  # identical typed values (the common case): no decoding
            return False
        if before is _ABSENT or after is _ABSENT:
            return True
        return not same(
            deserialize(before, f"OldImage.{name}"), deserialize(after, f"NewImage.{name}")
        )

    @staticmethod
    def changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
        """Names of added, removed and changed attributes, sorted."""
        names = []
        get = old.get
        for a, after in new.items():
            before = get(a, _ABSENT)
            if before != after and (
                before is _ABSENT
                or not same(
                    deserialize(before, f"OldImage.{a}"), deserialize(after, f"NewImage.{a}")
                )
            ):
                names.append(a)
        names.extend(a for a in old if a not in new)
        names.sort()
        return names

    def changes_json(
        self, old: Mapping[str, Any], new: Mapping[str, Any], changed: list[str]
    ) -> str:
        """``changedAttributes``: ``{"name": {"old": v, "new": v}, ...}`` (an added attribute
        has no ``old``, a removed one no ``new``; a redacted one is ``{"redacted": true}``)."""
        parts = []
        for a in changed:
            if a in self.redact:
                value = REDACTED
            elif a not in old:
                value = '{"new":' + self.value_json(new[a], f"NewImage.{a}") + "}"
            elif a not in new:
                value = '{"old":' + self.value_json(old[a], f"OldImage.{a}") + "}"
            else:
                value = (
                    '{"old":'
                    + self.value_json(old[a], f"OldImage.{a}")
                    + ',"new":'
                    + self.value_json(new[a], f"NewImage.{a}")
                    + "}"
                )
            parts.append(_quote(a) + ":" + value)
        return "{" + ",".join(parts) + "}"

    def omitted_changes_json(self, changed: list[str]) -> str:
        """``changedAttributes`` without values, for a message too large to carry them."""
        return (
            "{"
            + ",".join(
                _quote(a) + ":" + (REDACTED if a in self.redact else OMITTED) for a in changed
            )
            + "}"
        )


def publish_batched(
    records: Sequence[StreamRecord],
    build: Callable[[StreamRecord], tuple[E, int] | None],
    call: Callable[[list[E]], Sequence[object]],
    *,
    service: str,
    operation: str,
    rejected: str,
    budget: Budget,
    max_entries: int,
    max_bytes: int,
    workers: int = 1,
    group: Callable[[E], Hashable] | None = None,
) -> Outcome:
    """Both publishers' batch: ``build`` each checked record's entry and size (None: the
    change does not qualify, done without one), send them with ``call`` in calls of at most
    ``max_entries`` entries and ``max_bytes`` bytes (``send_entries``: retryable entries are
    sent again), up to ``workers`` calls at once while the next entries are built
    (``handlers.lanes.run_calls``: whichever thread makes the next call builds its entries).
    With ``group`` (an entry's SNS FIFO message group), calls
    that carry a common group never overlap and are made in record order, and none is made
    after a failed one. A record that cannot be built is POISON at its position, after what
    came before it was sent; after a call fails for good no later call starts, and the
    failure at the lowest position is the outcome: every record before it was sent."""
    poison: list[Outcome] = []

    def calls() -> Iterator[Call[list[tuple[int, E]]]]:
        pending: list[tuple[int, E]] = []
        pending_bytes = 0
        for position, record in enumerate(records):
            try:
                record.check()
                built = build(record)
            except RecordError as exc:
                poison.append(Outcome(position, Failure.POISON, str(exc)))
                break
            if built is None:
                continue
            entry, size = built
            if len(pending) == max_entries or pending_bytes + size > max_bytes:
                yield _call(pending, group)
                pending = []
                pending_bytes = 0
            pending.append((position, entry))
            pending_bytes += size
        if pending:
            yield _call(pending, group)

    def send(pending: list[tuple[int, E]]) -> Outcome | None:
        return send_entries(
            pending, call, service=service, operation=operation, rejected=rejected, budget=budget
        )

    # A call's failure is at a lower position than a record that cannot be built (calls
    # hold only the records before it), and after one no record is built.
    failed = run_calls(calls(), send, workers)
    return failed or (poison[0] if poison else Outcome(len(records)))


def _call(
    pending: list[tuple[int, E]], group: Callable[[E], Hashable] | None
) -> Call[list[tuple[int, E]]]:
    """One call of ``pending`` entries, keyed by their message groups (if any)."""
    keys = NO_KEYS if group is None else frozenset(group(e) for _, e in pending)
    return pending[0][0], keys, pending


def same(a: Any, b: Any) -> bool:
    """Equality of decoded values that also requires equal types (1 is not true)."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if type(a) is list:
        return len(a) == len(b) and all(map(same, a, b))
    return bool(a == b)


def utf8_len(text: str) -> int:
    """Bytes of ``text`` in UTF-8; ``MalformedValue`` for text that is not valid UTF-8."""
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise MalformedValue(f"the message is not valid UTF-8 text ({exc.reason})") from None


def send_entries(
    pending: list[tuple[int, E]],
    call: Callable[[list[E]], Sequence[object]],
    *,
    service: str,
    operation: str,
    rejected: str,
    budget: Budget,
) -> Outcome | None:
    """Both publishers' call: send ``pending`` (``(position, entry)``) with ``call``, which
    returns an ``EntryResult`` per entry in request order. Entries that failed with a code
    ``handlers.errors`` classifies ``RETRY`` for ``service`` are sent again, alone, with
    jittered backoff while the budget allows (``handlers.retry``), so accepted entries are
    not sent twice. Returns the failure at the lowest unaccepted entry (POISON or TRANSIENT
    by the code; ``rejected`` words its reason), or None when every entry was accepted. An
    error of the whole call (after ``handlers.retry``'s retries) is TRANSIENT: it names no
    entry."""
    from botocore.exceptions import BotoCoreError, ClientError

    todo = pending
    stop: Outcome | None = None  # the lowest entry that failed for good so far
    attempts = 0
    while todo:
        attempts += 1
        first = todo[0][0]
        if budget.expired():
            return Outcome(first, Failure.TIME, f"time budget ran out before {operation}")
        try:
            results = call([entry for _, entry in todo])
        except ClientError as exc:
            code = aws.error_code(exc)
            return Outcome(first, Failure.TRANSIENT, f"{operation} failed ({code}): {exc}")
        except BotoCoreError as exc:
            return Outcome(first, Failure.TRANSIENT, f"{operation} failed: {exc}")
        again: list[tuple[int, E]] = []
        last_error = ""
        for i, (position, _entry) in enumerate(todo):
            result = results[i] if i < len(results) else MISSING
            if result is None:
                continue  # accepted
            if not isinstance(result, tuple):
                stop = Outcome(
                    position, Failure.TRANSIENT, f"{operation} returned no result for the entry"
                )
                break
            code, message = result
            problem = f"{rejected} ({code}): {message}"
            found = errors.verdict(service, code)
            if found is errors.Verdict.RETRY:
                again.append(todo[i])
                last_error = last_error or problem
                continue
            # Not retryable: later entries of this call do not matter (the prefix ends
            # here); earlier retryable failures are retried below.
            kind = Failure.POISON if found is errors.Verdict.POISON else Failure.TRANSIENT
            stop = Outcome(position, kind, problem)
            break
        if not again:
            return stop
        delay = retry.retry_delay(attempts, budget)
        if delay is None:
            return Outcome(
                again[0][0], Failure.TRANSIENT, f"{last_error} (after {attempts} attempts)"
            )
        time.sleep(delay)
        todo = again
    return stop
