"""The SQS poller: one SQS event source mapping (such as the DLQ archiver's), run the way
Lambda's SQS event source runs it (``QueuePoller``), with the same function workers as the
stream pollers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ddbt.local.engine import (
    Attempt,
    InvokeResult,
    item_failures,
)
from ddbt.local.model import (
    PAYLOAD_LIMIT_BYTES,
    MappingSettings,
    Rec,
    sqs_rec,
)
from ddbt.local.polling import PollerOptions

__all__ = ["SQS_MESSAGE_LIMIT", "QueuePoller"]


SQS_MESSAGE_LIMIT = 256 * 1024  # SQS's classic maximum message size (guess for the 6 MB cut)
_QUEUE_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


class _QueueProgress:
    """A queue's progress in the shape ``Runtime.status``/``caught_up`` read from a shard:
    ``caught_up_at`` is the start of the last ReceiveMessage that came back empty while the
    queue held nothing at all (visible, in flight or delayed: a message left for a retry is
    still to be processed); ``idle()`` means no batch is being gathered or invoked."""

    closed = False  # queues do not end

    def __init__(self) -> None:
        self.caught_up_at = 0.0
        self._busy = 0
        self._lock = threading.Lock()

    def busy(self, delta: int) -> None:
        with self._lock:
            self._busy += delta

    def idle(self) -> bool:
        with self._lock:
            return self._busy == 0


class QueuePoller:
    """One SQS event source mapping, run the way Lambda's SQS event source runs it.

    * Gathering: ReceiveMessage (up to 10 per call, the queue's own visibility timeout, all
      system and message attributes) until ``BatchSize`` messages, the 6 MB payload limit or
      ``MaximumBatchingWindowInSeconds`` counted from the first message received; with a
      window of 0 the first non-empty receive is the batch (AWS requires a window of at least
      1 s for ``BatchSize`` above 10). Guess: AWS long-polls 20 s and may wait that long on a
      quiet queue even with a shorter window; here the receives end with the window.
    * The event: ``{"Records": [...]}`` in Lambda's SQS shape (``model.sqs_record``).
    * ``FilterCriteria``: matched against the record with ``body`` parsed when it is JSON;
      messages that match no filter are deleted without an invocation, as Lambda does.
    * Outcome: success deletes the batch (DeleteMessageBatch); with ``ReportBatchItemFailures``
      the reported messages stay and every other one is deleted; an invalid report (empty,
      null or unknown ``itemIdentifier``, wrong key, not an object) or a function error or
      timeout leaves the whole batch. What stays comes back after the visibility timeout with
      a higher ``ApproximateReceiveCount``; the queue's redrive policy (``maxReceiveCount``)
      moves it to its dead-letter queue: both are SQS's own behaviour, nothing here.
    * A batch that could not be invoked (function missing, code unavailable, all workers busy)
      stays in flight like a failed one (on AWS throttled batches return after the visibility
      timeout and their receives count too); the poller backs off ``retry_delay``.
    * Concurrency: ``PollerOptions.sqs_concurrency`` batches at once (default 1), at most
      ``ScalingConfig.MaximumConcurrency``. No on-failure destination: SQS mappings have none.
    """

    def __init__(
        self,
        settings: MappingSettings,
        *,
        sqs: Any,
        invoke: Callable[[dict[str, Any]], InvokeResult],
        options: PollerOptions,
        observer: Any = None,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings
        self.sqs = sqs
        self.invoke = invoke
        self.options = options
        self.observer = observer
        self.clock = clock
        self.log = log
        parts = settings.stream_arn.split(":")
        self.queue_name, self.account = parts[5], parts[4]
        self.progress = _QueueProgress()
        self.shards: dict[str, _QueueProgress] = {self.queue_name: self.progress}
        self.stop_event = threading.Event()
        self._url: str | None = None
        self._url_lock = threading.Lock()
        limit = settings.max_concurrency or options.sqs_concurrency
        self.threads = [
            threading.Thread(target=self._run, daemon=True, name=f"queue-{settings.uuid[:8]}-{i}")
            for i in range(max(1, min(options.sqs_concurrency, limit)))
        ]

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)

    def idle(self) -> bool:
        return self.progress.idle()

    @property
    def finished(self) -> bool:
        return False

    # -- the loop ------------------------------------------------------------------------
    def _queue_url(self) -> str:
        with self._url_lock:
            if self._url is None:
                self._url = str(
                    self.sqs.get_queue_url(
                        QueueName=self.queue_name, QueueOwnerAWSAccountId=self.account
                    )["QueueUrl"]
                )
            return self._url

    def _run(self) -> None:
        errors = 0  # receive errors in a row
        refused = 0  # batches in a row that could not be invoked
        while not self.stop_event.is_set():
            try:
                url = self._queue_url()
                batch = self._gather(url)
                errors = 0
            except Exception as exc:
                errors += 1
                if errors in (1, 10) or errors % 100 == 0:
                    self.log(f"{self.queue_name}: ReceiveMessage failed ({exc}); retrying")
                with self._url_lock:
                    self._url = None  # the queue may have been deleted and created again
                delay = self.options.poll_interval * 2 ** min(errors, 5)
                self.stop_event.wait(min(5.0, delay))
                continue
            if not batch:
                continue
            try:
                if self._deliver(url, batch):
                    refused = 0
                else:
                    delay = self.options.retry_delay * 2 ** min(refused, 4)
                    refused += 1
                    self.stop_event.wait(min(self.options.max_retry_delay, delay))
            except Exception as exc:  # a bug must not kill the poller silently
                self.log(f"{self.queue_name}: delivery failed: {exc!r}")
            finally:
                self.progress.busy(-1)

    def _receive(self, url: str, count: int, wait: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages") or [])

    def _matches(self, rec: Rec) -> bool:
        if not self.settings.matcher.patterns:
            return True
        document = dict(rec.event)
        try:
            document["body"] = json.loads(rec.event["body"])
        except ValueError:
            pass  # a plain-text body is matched as a string
        return bool(self.settings.matcher(document))

    def _gather(self, url: str) -> list[Rec]:
        """The next batch (the progress counts it busy), or [] after an idle receive."""
        s = self.settings
        batch: list[Rec] = []
        size = 0
        deadline: float | None = None
        while not self.stop_event.is_set():
            count = min(10, s.batch_size - len(batch))
            count = max(1, min(count, (PAYLOAD_LIMIT_BYTES - size) // SQS_MESSAGE_LIMIT))
            if deadline is None:
                wait = max(0, min(20, self.options.sqs_wait_seconds))
            else:
                remaining = deadline - self.clock()
                if remaining <= 0:
                    break
                wait = min(20, int(remaining))  # whole seconds: the API's unit
            asked_at = time.time()
            try:
                messages = self._receive(url, count, wait)
            except Exception:
                if batch:
                    break  # deliver what was gathered; the next receive reports the error
                raise
            if not messages:
                if not batch:
                    self._empty(url, asked_at)
                    return []
                if wait == 0 and deadline is not None:
                    self.stop_event.wait(
                        max(0.01, min(self.options.poll_interval, deadline - self.clock()))
                    )
                continue
            dropped = []
            for message in messages:
                rec = sqs_rec(message, s.stream_arn)
                if not self._matches(rec):
                    dropped.append(rec)
                    continue
                if not batch:
                    self.progress.busy(+1)
                batch.append(rec)
                size += rec.size
            if dropped:
                self._delete(url, dropped)
                if self.observer is not None:
                    self.observer.filtered(s.uuid, len(dropped))
            if not batch:
                continue
            if deadline is None:
                deadline = self.clock() + s.batching_window
            full = len(batch) >= s.batch_size or PAYLOAD_LIMIT_BYTES - size < SQS_MESSAGE_LIMIT
            if full or s.batching_window <= 0:
                break
        if self.stop_event.is_set() and batch:
            # Stopping (mapping disabled, changed or deleted; runtime closing) before the
            # invocation: the messages go back to the queue at once (guess: AWS's pollers
            # would let their visibility timeout run out).
            self._release(url, batch)
            self.progress.busy(-1)
            return []
        return batch

    def _empty(self, url: str, asked_at: float) -> None:
        """After an empty receive: caught up when the queue holds nothing at all."""
        try:
            attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_QUEUE_COUNTS))[
                "Attributes"
            ]
        except Exception:
            return
        if all(int(attrs.get(name, "0") or 0) == 0 for name in _QUEUE_COUNTS):
            self.progress.caught_up_at = max(self.progress.caught_up_at, asked_at)

    def _deliver(self, url: str, batch: list[Rec]) -> bool:
        """Invoke the function with ``batch``; delete what succeeded. False when the function
        could not be invoked (the caller backs off)."""
        s = self.settings
        result = self.invoke({"Records": [r.event for r in batch]})
        if result.outcome == "not_invoked":
            self._attempt(Attempt(batch, result, "not-invoked"))
            return False
        done: list[Rec] = []
        kept: list[Rec] = batch
        if result.function_error:
            verdict = result.outcome
        elif not s.report_item_failures:
            verdict, done, kept = "ok", batch, []
        else:
            verdict, indexes = item_failures(result.payload, [r.seq for r in batch])
            if verdict == "ok":
                done, kept = batch, []
            elif verdict == "partial":
                failed = set(indexes)
                done = [r for i, r in enumerate(batch) if i not in failed]
                kept = [r for i, r in enumerate(batch) if i in failed]
        # The report lists the deleted messages first, then those left for a retry.
        self._attempt(
            Attempt(
                done + kept if verdict == "partial" else batch,
                result,
                verdict,
                failed_from=len(done) if verdict == "partial" else None,
            )
        )
        if done:
            deleted = self._delete(url, done)
            if self.observer is not None:
                self.observer.done(s.uuid, deleted)
        return True

    def _attempt(self, attempt: Attempt) -> None:
        if self.observer is not None:
            self.observer.attempt(
                self.settings.uuid, self.settings.function_arn, self.queue_name, attempt
            )

    def _delete(self, url: str, records: Sequence[Rec]) -> list[Rec]:
        """DeleteMessageBatch, 10 at a time; the ones SQS refused come back later (logged)."""
        deleted: list[Rec] = []
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            entries = [
                {"Id": str(i), "ReceiptHandle": r.event["receiptHandle"]}
                for i, r in enumerate(chunk)
            ]
            try:
                response = self.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            except Exception as exc:
                self.log(f"{self.queue_name}: DeleteMessageBatch failed ({exc}): redelivered later")
                continue
            for failed in response.get("Failed") or []:
                self.log(
                    f"{self.queue_name}: message {chunk[int(failed['Id'])].seq} not deleted "
                    f"({failed.get('Code')}): redelivered later"
                )
            ok = {int(e["Id"]) for e in response.get("Successful") or []}
            deleted += [r for i, r in enumerate(chunk) if i in ok]
        return deleted

    def _release(self, url: str, records: Sequence[Rec]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": r.event["receiptHandle"], "VisibilityTimeout": 0}
            for i, r in enumerate(records[:10])
        ]
        try:
            self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
            if len(records) > 10:
                self._release(url, records[10:])
        except Exception as exc:  # they come back after the visibility timeout anyway
            self.log(f"{self.queue_name}: could not release {len(records)} message(s): {exc}")
