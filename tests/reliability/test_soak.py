"""make soak's own code at small scale, so that its machinery cannot rot: scripts/soak.py as
``make soak`` runs it (six processors at ParallelizationFactor 4, the fault injector, poison
records, the DLQ archiver, the fixed release and the redrive, ``ddbt verify-replica``), with a
few hundred changes and every fault kind made to fire within its first calls; and the
accounting (tests/reliability/accounting.py) shown to catch what it must catch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.reliability import accounting as acc
from tests.reliability.injector import KINDS, Kill, Sent
from tests.reliability.local_stack import ROOT, ZIP, Invocation


@pytest.mark.slow
@pytest.mark.skipif(not ZIP.exists(), reason="build/handlers.zip missing (make package)")
@pytest.mark.skipif(sys.platform != "linux", reason="the injector finds workers through /proc")
def test_a_small_soak_injects_every_fault_and_accounts_for_every_processor(
    tmp_path: Path,
) -> None:
    # GIVEN the soak at small scale: 240 changes of 2 writers, 2 poison episodes, a 6 s
    # function timeout, every fault firing within the first 3 calls of its kind of call
    out = tmp_path / "soak.json"
    args = ["--changes", "240", "--writers", "2", "--duration", "5", "--poison-episodes", "2"]
    args += ["--timeout", "6", "--first-by", "3", "--seed", "7", "--out", str(out)]
    args += ["--fault-free-changes", "40", "--crash-gap", "10"]
    # WHEN it runs
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "soak.py"), *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    r: dict[str, Any] = json.loads(out.read_text())
    # THEN every target is met (the script's own verdict, each one named when missed)
    assert run.returncode == 0 and r["ok"], r["failures"]
    # every fault kind was injected, the poison records at their positions
    assert {k: n for k, n in r["faults"].items() if not n} == {}
    assert set(r["faults"]) == {*KINDS, "poison"} and r["faults"]["poison"] == 8
    positions = r["live_run"]["poison_positions"]
    assert positions["first"] >= 1 and positions["last"] >= 1
    # batches of one shard ran side by side (factor 4)
    assert r["parallelization_factor"] == 4
    assert max(r["max_in_flight_per_shard"].values()) > 1
    # every processor accounted for: nothing lost, nothing applied twice, the poison
    # records exactly in the failure records, then applied once by the fixed release
    p = r["processors"]
    assert set(p) == set(acc.PROCESSORS)
    assert all(all(entry["targets"].values()) for entry in p.values())
    assert r["lost"] == 0 and r["duplicates"] == 0 and r["delivered"] == r["written"]
    assert p["analytics"]["match"] and p["etl"]["out_of_order_keys"] == 0
    for name in ("view", "replica"):
        assert p[name]["missing"] == p[name]["different"] == p[name]["extra"] == 0
        assert p[name]["missing_tombstones"] == 0 and p[name]["tombstones"] > 0
    assert r["verify_replica"]["exit_status"] == 0 and r["verify_replica"]["ok"]
    for name in ("notification", "eventbus"):
        assert p[name]["lost"] == 0 and p[name]["unattributed"] == 0
    assert r["live_run"]["failure_records"]["exactly_the_injected"]
    assert r["redrive"]["exit_status"] == 0 and r["redrive"]["archives_left"] == 0
    # and the fault-free run to compare with, its figures beside the faulted run's
    free = r["fault_free"]
    assert free["written"] == free["delivered"] == 40 and free["lost"] == free["duplicates"] == 0
    assert {"max_lag_s", "in_failure_records"} <= set(free)


# -- the accounting catches what it must ------------------------------------------------------


def _change(seq: int, key: str = "k", name: str = "INSERT") -> acc.StreamChange:
    return acc.StreamChange(str(seq), f"e{seq}", name, key, None, {"pk": {"S": key}})


def _line(seq: int, key: str = "k") -> dict[str, Any]:
    return {"eventID": f"e{seq}", "sequenceNumber": str(seq), "keys": {"pk": key}}


def test_the_etl_accounting_counts_duplicates_losses_and_order() -> None:
    stream = [_change(1), _change(2), _change(3), _change(4)]
    lines = [_line(2), _line(1), _line(2)]  # 2 twice, 1 after 2, 3 missing, 4 failed
    figures = acc.etl(lines, stream, failed={"4"})
    assert figures["duplicates"] == 1 and figures["lost"] == 1
    assert figures["out_of_order_keys"] == 1 and figures["both"] == 0


def test_a_repeat_without_a_documented_cause_is_unattributed() -> None:
    # GIVEN changes a and b sent in a call whose answer was cut, then again; change c
    # accepted after a failed entry (x), then sent again with it
    calls = [
        Sent("sns-publish", 1.0, [("a", True), ("b", True)], ["1", "2"], cut="reset-after"),
        Sent("sns-publish", 2.0, [("x", False), ("c", True)], ["4", "3"], failed_at=0),
        Sent(
            "sns-publish",
            3.0,
            [("a", True), ("b", True), ("x", True), ("c", True)],
            ["1", "2", "4", "3"],
        ),
    ]
    every = ("1", "2", "3", "4")
    runs = [
        Invocation("r1", 10, 0.5, 2.5, "ok", seqs=every),
        Invocation("r2", 10, 2.6, 4.0, "ok", seqs=every),
    ]
    figures = acc.publishers(calls, "sns-publish", {"a", "b", "c", "x"}, runs, [])
    # THEN each repeat has its documented cause
    assert figures["duplicates_by_cause"] == {
        "after-failed-entry": 1,
        "lost-response": 2,
    }
    assert figures["lost"] == 0 and figures["delivered"] == 4
    # but had the answer not been cut (and the worker's invocation succeeded), nothing
    # explains the repeats of a and b: the soak fails on them
    calls[0].cut = ""
    figures = acc.publishers(calls, "sns-publish", {"a", "b", "c", "x"}, runs, [])
    assert figures["unattributed"] == 2 and set(figures["unattributed_examples"]) == {"a", "b"}
    # and a crash of the worker after the first call explains both
    runs[0] = Invocation("r1", 10, 0.5, 2.5, "error", seqs=every)
    kills = [Kill(10, 1.5, "crash-after-write", "s3-put")]
    figures = acc.publishers(calls, "sns-publish", {"a", "b", "c", "x"}, runs, kills)
    assert figures["unattributed"] == 0
    assert figures["duplicates_by_cause"]["crash-after-publish (crash-after-write)"] == 2
    # a call the proxy read only after its worker was killed (on its way at the kill, seen
    # in the soak under load) is still that invocation's
    calls[0].at = 2.55
    figures = acc.publishers(calls, "sns-publish", {"a", "b", "c", "x"}, runs, kills)
    assert figures["duplicates_by_cause"]["crash-after-publish (crash-after-write)"] == 2
    # even when the next invocation of the records (another worker) had begun by then:
    # the sender's process decides (seen in the soak)
    runs[1] = Invocation("r2", 11, 2.52, 4.0, "ok", seqs=every)
    calls[0].pid = 10
    figures = acc.publishers(calls, "sns-publish", {"a", "b", "c", "x"}, runs, kills)
    assert figures["duplicates_by_cause"]["crash-after-publish (crash-after-write)"] == 2
    # and when the sender is unknown (the injector finds every live worker, so it had died
    # by the time the proxy read the call: seen in the soak), the invocation whose worker
    # had been killed by then
    calls[0].pid = 0
    figures = acc.publishers(calls, "sns-publish", {"a", "b", "c", "x"}, runs, kills)
    assert figures["duplicates_by_cause"]["crash-after-publish (crash-after-write)"] == 2
    # but with no worker killed, r2 looks like the sender and nothing explains the repeats
    figures = acc.publishers(calls, "sns-publish", {"a", "b", "c", "x"}, runs, [])
    assert figures["unattributed"] == 2


def test_a_call_read_after_the_redeliverys_own_is_ordered_by_its_invocation() -> None:
    """A worker killed right after it wrote a publish into its socket: under load the proxy
    read that call after the redelivery (another worker) had sent the same change (seen in
    the seed-2 soak). The repeat is the redelivery's, caused by the crash after publishing."""
    # GIVEN r1 (worker 10) killed at 1.15; the redelivery r2 (worker 11) sends "a" at 1.9;
    # r1's call of "a", on its way at the kill, is read at 2.3
    runs = [
        Invocation("r1", 10, 1.0, 1.2, "error", seqs=("1", "2")),
        Invocation("r2", 11, 1.8, 2.0, "ok", seqs=("1", "2")),
    ]
    kills = [Kill(10, 1.15, "crash-before-write", "ddb-transact")]
    calls = [
        Sent("sns-publish", 1.9, [("a", True)], ["2"], pid=11),
        Sent("sns-publish", 2.3, [("a", True)], ["2"], pid=10),
    ]
    # WHEN the publisher is accounted for
    figures = acc.publishers(calls, "sns-publish", {"a"}, runs, kills)
    # THEN the repeat is attributed to r1's crash after publishing
    assert figures["duplicates"] == 1 and figures["unattributed"] == 0
    assert figures["duplicates_by_cause"] == {"crash-after-publish (crash-before-write)": 1}


def test_a_dead_senders_call_belongs_to_the_invocation_its_kill_ended() -> None:
    """The sender unknown (dead when the proxy read its call), and the workers of two
    invocations of the record killed before then: the call is the one whose invocation the
    kill ended, and which holds every record the call carries (seen in a small soak in CI:
    r1's call of three records, read 2 s after its kill, after r2's own call of one)."""
    # GIVEN r1 (worker 10, records 1-3) killed at 4.7; r2 (worker 11, record 1 alone) sends
    # "a" at 6.1 and ends; worker 11 is killed at 6.3 in a later invocation; r1's call of
    # "a", "b", "c" is read at 6.8, its sender gone
    runs = [
        Invocation("r1", 10, 0.6, 4.75, "error", seqs=("1", "2", "3")),
        Invocation("r2", 11, 4.8, 6.15, "ok", seqs=("1",)),
    ]
    kills = [
        Kill(10, 4.7, "crash-before-write", "ddb-transact"),
        Kill(11, 6.3, "crash-after-write", "ddb-transact"),
    ]
    calls = [
        Sent("events-put", 6.1, [("a", True)], ["1"], pid=11),
        Sent("events-put", 6.8, [("a", True), ("b", True), ("c", True)], ["1", "2", "3"]),
    ]
    # WHEN the publisher is accounted for
    figures = acc.publishers(calls, "events-put", {"a", "b", "c"}, runs, kills)
    # THEN the repeat of "a" is r1's crash after publishing
    assert figures["duplicates_by_cause"] == {"crash-after-publish (crash-before-write)": 1}


def test_entries_after_a_failed_entry_of_an_overlapping_call_are_attributed() -> None:
    """The publishers' calls of one invocation overlap (issue 14): when the call of an earlier
    record has a failed entry, a later call already sent was accepted, and Lambda's
    redelivery from the failed record sends its entries again. Documented cause, not
    unattributed (it was before the overlapping calls were taken into account)."""
    # GIVEN one invocation of records 1..4: the call of 3, 4 was accepted while the call of
    # 1, 2 failed at 2; then the redelivery from 2 sends 2, 3, 4 again
    calls = [
        Sent("sns-publish", 1.0, [("c", True), ("d", True)], ["3", "4"]),
        Sent("sns-publish", 1.1, [("a", True), ("b", False)], ["1", "2"], failed_at=1),
        Sent("sns-publish", 3.0, [("b", True), ("c", True), ("d", True)], ["2", "3", "4"]),
    ]
    runs = [
        Invocation("r1", 10, 0.5, 2.0, "ok", seqs=("1", "2", "3", "4"), verdict="partial"),
        Invocation("r2", 10, 2.5, 4.0, "ok", seqs=("2", "3", "4")),
    ]
    # WHEN the publisher is accounted for
    figures = acc.publishers(calls, "sns-publish", {"a", "b", "c", "d"}, runs, [])
    # THEN the repeats of c and d have that cause
    assert figures["unattributed"] == 0 and figures["lost"] == 0
    assert figures["duplicates_by_cause"] == {"after-failed-entry (an overlapping call)": 2}
    # but not when the failed entry was a later record's
    calls[1] = Sent("sns-publish", 1.1, [("a", True), ("b", False)], ["5", "6"], failed_at=1)
    figures = acc.publishers(calls, "sns-publish", {"a", "b", "c", "d"}, runs, [])
    assert figures["unattributed"] == 2


def test_a_processor_is_accounted_for_by_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The soak's accounting table: a processor added to it (a cache, say) is read back,
    figured and judged by ``account`` and ``lost`` without any other change."""
    # GIVEN a 7th processor whose sink lost one of two changes
    stream = [_change(1, "a"), _change(2, "b")]
    entry = acc.Account(
        lambda stack: stack.cache,
        lambda facts, cache: {"lost": sum(1 for c in facts.stream if c.key not in cache)},
        lambda f: {"cache: every live item": not f["lost"]},
    )
    monkeypatch.setitem(acc.PROCESSORS, "cache", entry)

    class Stack:
        cache = {"a": "..."}

    # WHEN it is accounted for
    facts = acc.Facts(stream, [], [])
    figures = acc.account(Stack(), facts, ["cache"])  # type: ignore[arg-type]
    # THEN its figures, its verdict and the run's lost count carry it
    assert figures == {"cache": {"lost": 1, "targets": {"cache: every live item": False}}}
    assert acc.lost(figures) == 1
