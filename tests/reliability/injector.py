"""The soak's fault injector: a seeded schedule of faults at the AWS API level, applied on the
wire (a ``("custom", ...)`` rule of tests/reliability/proxy.py) to the calls a function makes,
with a record of what it did.

What a call is (``call_class``) is read from the request alone: ``s3-put`` (PutObject into
the ETL bucket), ``sns-publish`` (PublishBatch), ``events-put`` (PutEvents), ``ddb-transact``
(TransactWriteItems), ``ddb-put`` (PutItem), ``ddb-update`` (UpdateItem), ``ddb-get``
(GetItem). Nothing here knows how a handler works inside.

The kinds (``KINDS``), each on some classes at a rate per call:

* sink errors, answered by the proxy (the server never sees the request): S3 ``SlowDown``
  (503) and ``InternalError`` (500); SNS ``Throttled`` (429) and EventBridge
  ``ThrottlingException`` on the whole call; per-entry failures of ``PublishBatch`` and
  ``PutEvents`` (the entry is taken out of the request, the rest is forwarded, and the
  answer says the entry failed: ``*-entry-throttled`` once, so a resend gets it through;
  ``*-entry-failed`` on its next 5 sends, more than a handler's resends within one
  invocation); DynamoDB ``ProvisionedThroughputExceededException`` and a transaction
  cancelled by a ``TransactionConflict``; a conditional-check race (``ddb-condition-race``:
  the same conditional ``PutItem`` is applied first, as by a concurrent invocation of the same
  change, then the original gets the server's ``ConditionalCheckFailedException``);
* network faults: the connection reset before the request is forwarded (not applied) or after
  the server answered (applied, answer lost), and latency (0.5 to 2 s before forwarding);
* crashes: the worker process that sent a write is SIGKILLed before it is forwarded, or after
  the server applied it; or SIGSTOPped after (a hung function: the runtime kills it at the
  function's timeout, ``Sandbox.Timedout``).

Schedule: every (kind, class) pair has its own seeded sequence of firing ordinals (the n-th
call of that class): the first within ``first_by`` calls, then gaps drawn with mean 1/rate.
The plan depends only on the seed; which request is the n-th of its class depends on timing,
and the record says what was hit. When several kinds are due on one call, the first in
``KINDS`` order fires and the others stay due for the next call. Crashes are spaced: a crash
due within ``crash_gap`` write calls (of any class) of the last one stays due. Without the gap,
every crash kind's first firing lands in the run's first few dozen calls, on the same first
records: a record retried alone was crashed on all six of its attempts and went to the failure
destination, a fault schedule no soak can tell from a poison record (seen in the soak's first
full runs: one record more in the failure destination than the injected poison, with both
seeds). With the gap, a retried record's own calls make too few of the calls between two
crashes for its every attempt to be crashed.

Crashes need the process behind a connection: found through /proc (Linux only): the
connection's port in /proc/net/tcp names the socket's inode, which one child process of this
one holds open.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.reliability.proxy import (
    DDB_JSON,
    Exchange,
    Request,
    Response,
    answer,
    ddb_throttling,
    ddb_transaction_conflict,
    s3_slowdown,
    sns_throttling,
)

__all__ = [
    "CLASSES",
    "KINDS",
    "WRITES",
    "Injector",
    "Kill",
    "Sent",
    "call_class",
    "peer_pid",
]

WRITES = ("s3-put", "sns-publish", "events-put", "ddb-transact", "ddb-put", "ddb-update")
CLASSES = (*WRITES, "ddb-get")
PUBLISHES = ("sns-publish", "events-put")
ENTRY_FAILURE_SENDS = 5  # *-entry-failed: the entry fails on this many sends in a row


@dataclass(frozen=True)
class Kind:
    group: str  # "sink", "network" or "crash"
    rates: dict[str, float]  # call class -> probability per call


# Calls a function makes once per record of its batch, not once per batch: the view's and
# the replica's PutItem, and the checkpoint entries a redelivery writes up front (UpdateItem,
# one per record an entry covers). A fault that kills the function gets a per-record rate on
# them, so an invocation's chance to be crashed does not grow with its batch: with the
# per-call rate, a record retried alone whose every delivery rewrote 99 covered entries was
# crashed on all six deliveries (a seed-2 soak) and reached the failure destination.
PER_RECORD = ("ddb-put", "ddb-update")


def _on(
    classes: tuple[str, ...], rate: float, per_record_rate: float | None = None
) -> dict[str, float]:
    return {
        c: (per_record_rate if c in PER_RECORD and per_record_rate is not None else rate)
        for c in classes
    }


KINDS: dict[str, Kind] = {
    # crashes first: when due together with another kind, the crash fires
    "crash-before-write": Kind("crash", _on(WRITES, 0.006, 0.0001)),
    "crash-after-write": Kind("crash", _on(WRITES, 0.006, 0.0001)),
    "timeout": Kind("crash", {"s3-put": 0.002, "sns-publish": 0.003}),
    "s3-slowdown": Kind("sink", {"s3-put": 0.03}),
    "s3-500": Kind("sink", {"s3-put": 0.03}),
    "sns-throttling": Kind("sink", {"sns-publish": 0.03}),
    "sns-entry-throttled": Kind("sink", {"sns-publish": 0.03}),
    "sns-entry-failed": Kind("sink", {"sns-publish": 0.02}),
    "events-throttling": Kind("sink", {"events-put": 0.02}),
    "events-entry-throttled": Kind("sink", {"events-put": 0.02}),
    "events-entry-failed": Kind("sink", {"events-put": 0.01}),
    "ddb-throughput": Kind(
        "sink", {"ddb-transact": 0.02, "ddb-update": 0.02, "ddb-get": 0.02, "ddb-put": 0.003}
    ),
    "ddb-transaction-conflict": Kind("sink", {"ddb-transact": 0.03}),
    "ddb-condition-race": Kind("sink", {"ddb-put": 0.002}),
    "reset-before": Kind("network", _on(WRITES, 0.003, 0.0005)),
    "reset-after": Kind("network", _on(WRITES, 0.003, 0.0005)),
    "latency": Kind("network", _on(CLASSES, 0.003, 0.0005)),
}


def call_class(request: Request, etl_bucket: str) -> str:
    """The class of a request ('' for a call no fault targets)."""
    target = request.headers.get("x-amz-target", "")
    if target.startswith("DynamoDB_"):
        return {
            "TransactWriteItems": "ddb-transact",
            "PutItem": "ddb-put",
            "UpdateItem": "ddb-update",
            "GetItem": "ddb-get",
        }.get(request.target, "")
    if target == "AWSEvents.PutEvents":
        return "events-put"
    if request.method == "PUT" and urlsplit(request.path).path.startswith(f"/{etl_bucket}/"):
        return "s3-put"
    if request.query_action == "PublishBatch":
        return "sns-publish"
    return ""


# -- the processes behind connections (Linux) ---------------------------------------------


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            out += [int(x) for x in task.read_text().split()]
        except OSError:
            pass
    return out


def peer_pid(client_port: int, proxy_port: int) -> int | None:
    """The child process of this one that holds the client end of a connection to the proxy
    (127.0.0.1:``client_port`` -> ``proxy_port``), or None."""
    needle = f"0100007F:{client_port:04X} 0100007F:{proxy_port:04X} "
    inode = ""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            text = Path(table).read_text()
        except OSError:
            continue
        at = text.find(needle)
        if at >= 0:
            line = text[at : text.find("\n", at)].split()
            inode = line[8] if len(line) > 8 else ""  # local, remote, st, queues, ..., inode
            break
    if not inode or inode == "0":
        return None
    wanted = f"socket:[{inode}]"
    for pid in _children(os.getpid()):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == wanted:
                    return pid
            except OSError:
                continue
    return None


# -- what the injector records ---------------------------------------------------------------


@dataclass
class Sent:
    """One PublishBatch/PutEvents call as the server and the caller saw it: each entry's
    ``eventID`` (from the message body) and whether the server accepted it; ``seqs``: the
    entries' sequence numbers (which records' invocation made the call); ``failed_at``: the
    first entry the caller was told failed (None: none); ``cut``: the fault that kept the
    answer from the caller ('' when it got it)."""

    cls: str
    at: float
    entries: list[tuple[str, bool]]
    seqs: list[str] = field(default_factory=list)
    failed_at: int | None = None
    cut: str = ""
    pid: int = 0  # the process that sent it (0: unknown)


@dataclass(frozen=True)
class Kill:
    pid: int
    at: float
    kind: str  # crash-before-write, crash-after-write or timeout
    cls: str


@dataclass
class _Pair:
    rng: random.Random
    rate: float
    next: int


# -- the injector -------------------------------------------------------------------------


class Injector:
    """``proxy.add(lambda r: True, ("custom", injector.handle), times=None)``; ``on`` turns
    the faults off and on (calls are still classified, counted and logged)."""

    def __init__(
        self,
        seed: int,
        etl_bucket: str,
        *,
        scale: float = 1.0,
        first_by: int = 30,
        crash_gap: int = 0,
        trace: bool = False,
    ) -> None:
        self.seed = seed
        self.crash_gap = crash_gap
        self._writes = 0  # write calls so far (every class but ddb-get)
        self._last_crash = -crash_gap  # the write call of the last crash
        # with ``trace``: every call of a class (time, class, fault, process, answer status,
        # and for S3 the path, for DynamoDB writes the request), to find what went wrong
        self.trace: list[dict[str, Any]] | None = [] if trace else None
        self.etl_bucket = etl_bucket
        self.on = True
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()  # kind -> faults applied
        self.by_class: Counter[str] = Counter()  # "kind/class" -> faults applied
        self.skipped: Counter[str] = Counter()  # kind -> firings that found no process
        self.sent: list[Sent] = []
        self.kills: list[Kill] = []
        self._lock = threading.Lock()
        self._pairs: dict[tuple[str, str], _Pair] = {}
        for kind, spec in KINDS.items():
            for cls, rate in spec.rates.items():
                rng = random.Random(f"{seed}/{kind}/{cls}")
                p = min(1.0, rate * scale)
                self._pairs[kind, cls] = _Pair(
                    rng, p, rng.randint(1, max(1, min(first_by, int(1 / p))))
                )
        self._rng = random.Random(f"{seed}/choices")
        self._failing: dict[str, int] = {}  # eventID -> sends still to fail (entry-failed)
        self._pids: dict[int, int | None] = {}  # connection -> process

    # -- schedule ---------------------------------------------------------------------
    def _due(self, cls: str, n: int, request: Request) -> str:
        """The kind to apply to the n-th call of ``cls`` ('' for none); consumes it."""
        if cls in WRITES:
            self._writes += 1
        for kind in KINDS:
            pair = self._pairs.get((kind, cls))
            if pair is None or pair.next > n or not self._applicable(kind, request):
                continue
            if KINDS[kind].group == "crash":
                if self._writes - self._last_crash < self.crash_gap:
                    continue  # stays due
                self._last_crash = self._writes
            pair.next = n + 1 + int(pair.rng.expovariate(pair.rate))
            return kind
        return ""

    @staticmethod
    def _applicable(kind: str, request: Request) -> bool:
        if kind.endswith("-entry-throttled") or kind.endswith("-entry-failed"):
            return bool(_entries(request))
        if kind == "ddb-condition-race":
            return b"ConditionExpression" in request.body
        return True

    # -- the proxy's handler ----------------------------------------------------------
    def handle(self, ex: Exchange) -> bytes | None:
        cls = call_class(ex.request, self.etl_bucket)
        if not cls:
            return ex.forward(ex.request)
        with self._lock:
            self.calls[cls] += 1
            kind = self._due(cls, self.calls[cls], ex.request) if self.on else ""
            choice = self._rng.random()
        # the process behind a publish is looked up too (cached per connection, while it
        # lives): the accounting tells which invocation sent a call by it
        crash = bool(kind) and KINDS[kind].group == "crash"
        pid = self._pid(ex) if crash or cls in PUBLISHES else None
        if crash and pid is None:
            with self._lock:
                self.skipped[kind] += 1
            kind = ""
        if kind:
            with self._lock:
                self.injected[kind] += 1
                self.by_class[f"{kind}/{cls}"] += 1
        if self.trace is None:
            return self._apply(kind, cls, ex, pid, choice)
        at = time.time()
        answer = self._apply(kind, cls, ex, pid, choice)
        entry: dict[str, Any] = {"at": at, "cls": cls, "kind": kind, "pid": pid}
        entry["status"] = Response.parse(answer).status if answer else None
        if cls == "s3-put":
            entry["path"] = ex.request.path
        elif cls in ("ddb-transact", "ddb-update"):
            entry["request"] = json.loads(ex.request.body)
        with self._lock:
            self.trace.append(entry)
        return answer

    def _pid(self, ex: Exchange) -> int | None:
        """The process behind the request's connection (looked up once per connection)."""
        if ex.connection not in self._pids:
            self._pids[ex.connection] = peer_pid(ex.client_port, ex.proxy_port)
        return self._pids[ex.connection]

    def _apply(
        self, kind: str, cls: str, ex: Exchange, pid: int | None, choice: float
    ) -> bytes | None:
        request = ex.request
        if kind == "s3-slowdown":
            return answer(s3_slowdown(503, "SlowDown"))
        if kind == "s3-500":
            return answer(s3_slowdown(500, "InternalError"))
        if kind == "sns-throttling":
            return answer(sns_throttling("Throttled", 429))  # ThrottledException's code
        if kind == "events-throttling":
            return _events_error("ThrottlingException")
        if kind == "ddb-throughput":
            return answer(ddb_throttling())
        if kind == "ddb-transaction-conflict":
            actions = len(json.loads(request.body).get("TransactItems") or [])
            conflict = ddb_transaction_conflict(request, int(choice * max(1, actions)))
            return answer(("respond", 400, DDB_JSON, conflict))
        if kind == "ddb-condition-race":
            ex.forward(request)  # the concurrent writer wins...
            return ex.forward(request)  # ...and the original meets its condition
        if kind == "reset-before":
            return None
        if kind == "latency":
            time.sleep(0.5 + 1.5 * choice)
        if kind == "crash-before-write":
            assert pid is not None
            self._kill(pid, kind, cls, signal.SIGKILL)
            return None
        if cls in PUBLISHES:
            return self._publish(kind, cls, ex, pid, choice)
        raw = ex.forward(request)
        return self._cut(kind, cls, pid, raw)

    def _cut(self, kind: str, cls: str, pid: int | None, raw: bytes) -> bytes | None:
        """After the server answered: lose the answer, or kill or stop its caller."""
        if kind == "reset-after":
            return None
        if kind in ("crash-after-write", "timeout"):
            assert pid is not None
            self._kill(
                pid, kind, cls, signal.SIGKILL if kind == "crash-after-write" else signal.SIGSTOP
            )
            return None
        return raw

    def _kill(self, pid: int, kind: str, cls: str, sig: int) -> None:
        with self._lock:
            self.kills.append(Kill(pid, time.time(), kind, cls))
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    # -- PublishBatch / PutEvents -----------------------------------------------------
    def _publish(
        self, kind: str, cls: str, ex: Exchange, pid: int | None, choice: float
    ) -> bytes | None:
        entries = _entries(ex.request)
        ids, seqs = (
            zip(*(_change_id(e, cls) for e in entries), strict=True) if entries else ((), ())
        )
        fail: dict[int, str] = {}
        with self._lock:
            for i, event_id in enumerate(ids):
                left = self._failing.get(event_id, 0)
                if left:
                    self._failing[event_id] = left - 1
                    fail[i] = _ENTRY_CODES[cls][1]
            if kind.endswith("-entry-throttled") or kind.endswith("-entry-failed"):
                k = int(choice * (len(entries) - 1))
                persistent = kind.endswith("-entry-failed")
                fail[k] = _ENTRY_CODES[cls][1 if persistent else 0]
                if persistent:
                    self._failing[ids[k]] = ENTRY_FAILURE_SENDS - 1
        at = time.time()
        if len(fail) == len(entries):
            raw: bytes | None = _entry_response(cls, b"", fail, entries)
            accepted: set[int] = set()
        else:
            kept = [e for i, e in enumerate(entries) if i not in fail]
            upstream = Response.parse(ex.forward(_with_entries(ex.request, cls, kept)))
            if upstream.status != 200:
                raw, accepted = upstream.encode(), set()
            else:
                ok = _accepted(cls, upstream, kept)
                order = [i for i in range(len(entries)) if i not in fail]
                accepted = {order[j] for j in ok}
                raw = (
                    _entry_response(cls, upstream.body, fail, entries)
                    if fail
                    else upstream.encode()
                )
        answer = self._cut(kind, cls, pid, raw) if raw is not None else None
        record = Sent(
            cls,
            at,
            [(event_id, i in accepted) for i, event_id in enumerate(ids)],
            list(seqs),
            failed_at=min(fail) if fail else None,
            cut=kind if answer is None else "",
            pid=pid or 0,
        )
        with self._lock:
            self.sent.append(record)
        return answer

    def figures(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self.seed,
                "calls": dict(sorted(self.calls.items())),
                "injected": {k: self.injected.get(k, 0) for k in KINDS},
                "by_class": dict(sorted(self.by_class.items())),
                "skipped_no_process": dict(sorted(self.skipped.items())),
            }


# -- wire formats -----------------------------------------------------------------------------

_SNS_NS = "http://sns.amazonaws.com/doc/2010-03-31/"
_SNS_PREFIX = "PublishBatchRequestEntries.member."
# (once, persistent) per-entry codes: the documented retryable ones
_ENTRY_CODES = {
    "sns-publish": ("Throttled", "InternalError"),
    "events-put": ("ThrottlingException", "InternalFailure"),
}


def _respond(status: int, content_type: str, body: bytes) -> bytes:
    return Response(status, {"content-type": content_type}, body).encode()


def _events_error(code: str) -> bytes:
    """An EventBridge error answer (JSON 1.1, ``__type`` the code)."""
    body = json.dumps({"__type": code, "message": f"injected {code}"}).encode()
    return _respond(400, "application/x-amz-json-1.1", body)


def _entries(request: Request) -> list[Any]:
    """The entries of a PublishBatch (form fields per entry) or PutEvents (JSON) call."""
    if request.headers.get("x-amz-target") == "AWSEvents.PutEvents":
        return list(json.loads(request.body).get("Entries") or [])
    if request.query_action != "PublishBatch":
        return []
    members: dict[int, list[tuple[str, str]]] = {}
    for name, value in parse_qsl(request.body.decode(), keep_blank_values=True):
        if name.startswith(_SNS_PREFIX):
            number, _, rest = name[len(_SNS_PREFIX) :].partition(".")
            members.setdefault(int(number), []).append((rest, value))
    return [members[n] for n in sorted(members)]


def _change_id(entry: Any, cls: str) -> tuple[str, str]:
    """The stream record's eventID and sequence number in a notification body or an event's
    Detail (both documented fields of the message)."""
    if cls == "events-put":
        text = entry.get("Detail", "{}")
    else:
        text = next((v for k, v in entry if k == "Message"), "{}")
    try:
        doc = json.loads(text)
    except ValueError:
        return "", ""
    return str(doc.get("eventID", "")), str(doc.get("sequenceNumber", ""))


def _entry_id(entry: Any) -> str:
    return next((v for k, v in entry if k == "Id"), "")


def _with_entries(request: Request, cls: str, entries: list[Any]) -> Request:
    if cls == "events-put":
        doc = json.loads(request.body)
        doc["Entries"] = entries
        return request.with_body(json.dumps(doc).encode())
    fields = [
        (k, v)
        for k, v in parse_qsl(request.body.decode(), keep_blank_values=True)
        if not k.startswith(_SNS_PREFIX)
    ]
    for n, entry in enumerate(entries, 1):
        fields += [(f"{_SNS_PREFIX}{n}.{k}", v) for k, v in entry]
    return request.with_body(urlencode(fields).encode())


def _accepted(cls: str, response: Response, kept: list[Any]) -> set[int]:
    """Indexes (into ``kept``) of the entries the server accepted."""
    if cls == "events-put":
        results = json.loads(response.body).get("Entries") or []
        return {i for i, r in enumerate(results) if r.get("EventId") and not r.get("ErrorCode")}
    ok = {parts.get("Id", "") for parts in _successful(response.body)}
    return {i for i, entry in enumerate(kept) if _entry_id(entry) in ok}


def _successful(body: bytes) -> list[dict[str, str]]:
    """The members of a PublishBatch answer's ``Successful`` list, as {tag: text}."""
    return [
        {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in member}
        for el in ET.fromstring(body).iter()
        if el.tag.rsplit("}", 1)[-1] == "Successful"
        for member in el
    ]


def _entry_response(cls: str, upstream: bytes, fail: dict[int, str], entries: list[Any]) -> bytes:
    """The answer to the whole call: the server's results for the entries it got, and
    ``fail`` (position -> code) for the ones taken out."""
    if cls == "events-put":
        results = list(json.loads(upstream).get("Entries") or []) if upstream else []
        out: list[dict[str, str]] = []
        for i in range(len(entries)):
            if i in fail:
                out.append({"ErrorCode": fail[i], "ErrorMessage": f"injected {fail[i]}"})
            else:
                out.append(results.pop(0))
        count = sum(1 for r in out if r.get("ErrorCode"))
        body = json.dumps({"FailedEntryCount": count, "Entries": out}).encode()
        return _respond(200, "application/x-amz-json-1.1", body)
    successful = "".join(
        f"<member><Id>{parts.get('Id', '')}</Id><MessageId>{parts.get('MessageId', '')}"
        "</MessageId></member>"
        for parts in (_successful(upstream) if upstream else [])
    )
    failed = "".join(
        f"<member><Id>{_entry_id(entries[i])}</Id><Code>{code}</Code>"
        f"<Message>injected {code}</Message><SenderFault>{str(code != 'InternalError').lower()}"
        "</SenderFault></member>"
        for i, code in sorted(fail.items())
    )
    body = (
        f'<PublishBatchResponse xmlns="{_SNS_NS}"><PublishBatchResult>'
        f"<Successful>{successful}</Successful><Failed>{failed}</Failed>"
        "</PublishBatchResult><ResponseMetadata><RequestId>SOAK</RequestId>"
        "</ResponseMetadata></PublishBatchResponse>"
    ).encode()
    return _respond(200, "text/xml", body)
