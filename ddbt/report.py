"""What the runtime shows: one line per invocation, a summary per mapping, and the ways records
can expire unseen, said plainly: a mapping that cannot read its stream (on AWS no invocation
metric moves; the stall alarm watches PolledEventCount) and failed batches that could not be
delivered to the on-failure destination (on AWS: DestinationDeliveryFailures, records dropped).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from ddbt.engine import Attempt, Failure
from ddbt.model import Rec

__all__ = ["Report", "Stats", "problems"]


@dataclass
class Stats:
    function: str = ""
    invocations: int = 0
    records_delivered: int = 0  # records handed to the function (retries count again)
    records_done: int = 0  # records processed successfully
    filtered: int = 0
    ok: int = 0
    partial: int = 0
    errors: int = 0
    timeouts: int = 0
    invalid: int = 0
    not_invoked: int = 0
    to_destination: int = 0  # records given up on
    destination_messages: int = 0
    max_lag: float = 0.0
    last_activity: float = field(default_factory=time.time)
    # The stream as Lambda's pollers see it: records read (PolledEventCount, filtered ones
    # included) and the last successful read; per shard ("stream" for DescribeStream) that
    # cannot be read: {"since", "attempts", "error"}.
    polled: int = 0
    last_read_at: float = 0.0
    read_failing: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Failed batches the on-failure destination did not take (AWS drops their records).
    undelivered_messages: int = 0
    undelivered_records: int = 0
    destination_error: str = ""
    # Invocations of one shard in flight at once: the most seen per shard, and the most of
    # any shard (above 1 only with ParallelizationFactor above 1).
    in_flight_by_shard: dict[str, int] = field(default_factory=dict)
    max_in_flight: int = 0


class Report:
    """Thread-safe counters plus the live lines (to ``out``; None: silent)."""

    def __init__(self, out: IO[str] | None = sys.stdout, clock: Any = time.time) -> None:
        self.out = out
        self.clock = clock
        self.stats: dict[str, Stats] = defaultdict(Stats)
        self._lock = threading.Lock()
        self._last_error: dict[tuple[str, str], str] = {}  # (mapping, shard) -> its reason

    def line(self, text: str) -> None:
        if self.out is not None:
            with self._lock:
                self.out.write(f"{time.strftime('%H:%M:%S')} {text}\n")
                self.out.flush()

    def attempt(self, mapping: str, function: str, shard: str, attempt: Attempt) -> None:
        records = attempt.records
        lag = self.clock() - records[-1].arrival if records else 0.0
        with self._lock:
            s = self.stats[mapping]
            s.function = function
            s.last_activity = time.time()
            if attempt.verdict == "not-invoked":
                s.not_invoked += 1
            else:
                s.invocations += 1
                s.records_delivered += len(records)
                s.max_lag = max(s.max_lag, lag)
                if attempt.verdict == "ok":
                    s.ok += 1
                elif attempt.verdict == "partial":
                    s.partial += 1
                elif attempt.verdict == "timeout":
                    s.timeouts += 1
                elif attempt.verdict == "error":
                    s.errors += 1
                else:
                    s.invalid += 1
        result = attempt.verdict
        r = attempt.result
        if attempt.verdict == "partial":
            result = f"partial: {len(records) - (attempt.failed_from or 0)} to retry"
        elif attempt.verdict in ("error", "timeout", "not-invoked"):
            # The whole reason, once: a retry failing the same way says so instead of
            # repeating it (a reason cut to a width was cut mid-word).
            reason = f"{r.error_type} {r.error_message}".strip()
            with self._lock:
                same = self._last_error.get((mapping, shard)) == reason
                self._last_error[(mapping, shard)] = reason
            result = f"{attempt.verdict}: " + ("as before" if same else reason)
        window = ""
        if attempt.window is not None:
            window = " window" + (" final" if attempt.window.final else "")
        # 100 columns: the fixed part is 80 wide, the result follows (a reason runs on)
        span = f"{records[0].seq[-5:]}..{records[-1].seq[-5:]}" if records else "-"
        self.line(
            f"{_short(function):<22} {shard[-6:]} {len(records):>4} rec {span:<12} "
            f"{r.duration * 1000:5.0f} ms lag {lag:4.1f}s{window} {result}"
        )

    def in_flight(self, mapping: str, shard: str, count: int) -> None:
        """``count`` invocations of ``shard`` are in flight now (one has just started)."""
        with self._lock:
            s = self.stats[mapping]
            if count > s.in_flight_by_shard.get(shard, 0):
                s.in_flight_by_shard[shard] = count
            s.max_in_flight = max(s.max_in_flight, count)

    def done(self, mapping: str, records: Sequence[Rec]) -> None:
        with self._lock:
            self.stats[mapping].records_done += len(records)

    def filtered(self, mapping: str, count: int) -> None:
        with self._lock:
            self.stats[mapping].filtered += count

    def failure(self, mapping: str, function: str, failure: Failure) -> None:
        with self._lock:
            s = self.stats[mapping]
            s.to_destination += len(failure.records)
            s.destination_messages += 1
            s.records_done -= len(failure.records)  # on_done also counts them
        dest = failure.settings.destination_arn or "(no destination: skipped)"
        self.line(
            f"{_short(function):<22} {failure.shard_id[-6:]} {len(failure.records):>4} rec "
            f"-> {failure.condition} after {failure.invoke_count} invocations -> "
            f"{dest.split(':')[-1]}"
        )

    def snapshot(self, mapping: str) -> dict[str, Any]:
        """The mapping's counters as plain data (what ``Runtime.status`` writes), copied under
        the lock so pollers may go on counting."""
        with self._lock:
            s = self.stats.get(mapping)
            if s is None:
                return {}
            out = dict(s.__dict__)
            out["read_failing"] = {k: dict(v) for k, v in s.read_failing.items()}
            out["in_flight_by_shard"] = dict(s.in_flight_by_shard)
            return out

    def read_ok(self, mapping: str, where: str, records: int | None = None) -> None:
        """A successful call on ``where``: GetRecords on a shard (``records`` read, 0 for an
        empty poll), or DescribeStream on the "stream" (``records`` None)."""
        with self._lock:
            s = self.stats[mapping]
            if records is not None:
                s.polled += records
                s.last_read_at = self.clock()
            failing = s.read_failing.pop(where, None)
        if failing is not None:
            self.line(
                f"mapping {mapping[:8]}: reads {where} again after {failing['attempts']} "
                "failed attempts"
            )

    def read_failed(self, mapping: str, where: str, error: str) -> None:
        """A failed read of ``where``: said once when it starts, counted afterwards."""
        with self._lock:
            s = self.stats[mapping]
            failing = s.read_failing.get(where)
            first = failing is None
            if failing is None:
                failing = s.read_failing[where] = {"since": self.clock(), "attempts": 0}
            failing["attempts"] += 1
            failing["error"] = error
        if first:
            self.line(
                f"mapping {mapping[:8]}: STALLED: cannot read the stream ({where}: {error}); "
                "nothing is processed, and unread records expire 24 hours after they were "
                "written"
            )

    def destination_failed(self, mapping: str, failure: Failure, error: str) -> None:
        """The on-failure destination did not take a failed batch's record."""
        with self._lock:
            s = self.stats[mapping]
            s.undelivered_messages += 1
            s.undelivered_records += len(failure.records)
            s.destination_error = error
        self.line(
            f"mapping {mapping[:8]}: LOST: could not deliver the failure record of "
            f"{len(failure.records)} records to {failure.settings.destination_arn}: {error} "
            "(AWS drops them and counts DestinationDeliveryFailures; kept here in "
            "undeliverable.jsonl)"
        )

    def summary(self) -> str:
        rows = [
            "mapping  function                 invocations ok partial err timeout done "
            "filtered to-dest max lag in flight"
        ]
        with self._lock:
            for mapping, s in sorted(self.stats.items()):
                rows.append(
                    f"{mapping[:8]:<8} {_short(s.function):<24} {s.invocations:>11} "
                    f"{s.ok:>2} {s.partial:>7} {s.errors + s.invalid:>3} {s.timeouts:>7} "
                    f"{s.records_done:>4} {s.filtered:>8} {s.to_destination:>7} "
                    f"{s.max_lag:6.1f}s {s.max_in_flight:>9}"
                )
        return "\n".join(rows)


def problems(stats: dict[str, Any], now: float | None = None) -> list[str]:
    """The ways a mapping's records can expire unseen, in plain words, from its ``Stats`` as
    ``Runtime.status`` reports them (``stats.__dict__``); empty when there are none."""
    out = []
    now = time.time() if now is None else now
    for where, failing in sorted((stats.get("read_failing") or {}).items()):
        since = time.strftime("%H:%M:%S", time.localtime(failing["since"]))
        out.append(
            f"STALLED: cannot read the stream since {since} ({where}, {failing['attempts']} "
            f"failed attempts, {now - failing['since']:.0f}s): {failing.get('error', '')}; "
            "unread records expire 24 hours after they were written"
        )
    if stats.get("undelivered_messages"):
        out.append(
            f"LOST: {stats['undelivered_records']} records of {stats['undelivered_messages']} "
            f"failed batches could not be delivered to the on-failure destination: "
            f"{stats.get('destination_error', '')} (kept in undeliverable.jsonl)"
        )
    return out


def _short(function_arn: str) -> str:
    parts = function_arn.split(":")
    return ":".join(parts[6:]) if len(parts) > 6 else function_arn
