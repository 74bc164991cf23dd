"""Soak (issues 6, 17, 18, 21): every processor under sustained writes and injected faults.

examples/complete's stack given a cache endpoint (one pipeline function running analytics,
notification, ETL, event bus, view, replica and the cache, on a real Valkey/Redis server; its
dead-letter queue archived by the DLQ archiver) is deployed on the local runtime (ddbt) at
ParallelizationFactor 4, from build/handlers.zip. Several writer
threads make item changes (hot keys, deletes, re-creates, status changes). The function's
sink calls go through the fault proxy, whose injector (tests/reliability/injector.py) fails,
resets, delays them and kills or hangs the function's worker processes on a seeded schedule,
and records what it did; poison records are written at known positions (first and last in a
batch). Then every processor is accounted for (tests/reliability/accounting.py), the
archived poison records are redriven through a "fixed" release of the code, and the
accounting runs again. Figures on stdout and in build/soak.json; docs/reliability.md
explains each one. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import local_endpoint_process  # noqa: E402
from tests.reliability import accounting as acc  # noqa: E402
from tests.reliability.injector import KINDS, Injector  # noqa: E402
from tests.reliability.local_stack import (  # noqa: E402
    ARCHIVE_BUCKET,
    ARCHIVE_PREFIX,
    BUCKET,
    REGION,
    TABLE,
    WITH_CACHE,
    ZIP,
    Observed,
    Stack,
    Writer,
)
from tests.reliability.proxy import Proxy, Request, ddb_op  # noqa: E402

# Longer than the handlers' read timeout (handlers/aws.py: 15 s): the client gives up and
# retries a commit that the endpoint still applies afterwards.
STALL_SECONDS = 16.0
TOO_MANY_DIGITS = "123456789012345678901234567890123456789012"  # DynamoDB keeps 38
STATUSES = ("APPLIED", "SCREEN", "INTERVIEW", "OFFER", "REJECTED")
JOBS = ("J0", "J1", "J2", "J3")
FIXED = ROOT / "tests" / "reliability" / "soak_fixed.py"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--changes", type=int, default=20_000, help="item changes of the writers")
    p.add_argument("--writers", type=int, default=4, help="writer threads")
    p.add_argument("--duration", type=float, default=400.0, help="seconds of writes (min)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--parallelization", type=int, default=4, help="ParallelizationFactor")
    p.add_argument("--timeout", type=int, default=30, help="the function's timeout (s)")
    p.add_argument("--seed", type=int, default=1, help="seeds the writers and the faults")
    p.add_argument("--no-faults", action="store_true", help="inject nothing (poison aside)")
    p.add_argument(
        "--fault-free-changes",
        type=int,
        default=2_000,
        help="after the faulted run, a fault-free run of this many changes at the same write "
        "rate, to compare (0: none)",
    )
    p.add_argument("--fault-scale", type=float, default=1.0, help="multiplies every rate")
    p.add_argument(
        "--first-by",
        type=int,
        default=30,
        help="each fault fires first within this many calls of its kind of call",
    )
    p.add_argument(
        "--crash-gap",
        type=int,
        default=100,
        help="at least this many write calls between two crashes (see the injector)",
    )
    p.add_argument("--poison-episodes", type=int, default=3, help="4 poison records each")
    p.add_argument(
        "--max-lag",
        type=float,
        help="also fail when the largest iterator age exceeds this (s; by default it is only "
        "reported: it measures the machine as much as the code)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "build" / "soak.json")
    p.add_argument(
        "--trace",
        action="store_true",
        help="keep every sink call (trace.jsonl) and the checkpoint table (checkpoints.jsonl) "
        "in the state directory, to find what went wrong",
    )
    p.add_argument("--code", type=Path, default=ZIP, help="the functions' zip")
    p.add_argument(
        "--serialize-writes",
        action="store_true",
        help="writer threads call the endpoint one at a time (by default they overlap)",
    )
    p.add_argument(
        "--stall-commits",
        type=int,
        default=0,
        metavar="N",
        help=f"hold N analytics commits (every 100th TransactWriteItems) for "
        f"{STALL_SECONDS:.0f} s, as the loaded local endpoint sometimes does: the handler's "
        "read timeout fires, it retries, and the held commit lands later",
    )
    return p.parse_args(argv)


class Gate:
    """Lets writers pause: ``close()`` returns once no write is in progress."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = True
        self._active = 0

    def enter(self) -> None:
        with self._cond:
            while not self._open:
                self._cond.wait()
            self._active += 1

    def leave(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._open = False
            while self._active:
                self._cond.wait()

    def open(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()


class Load:
    """The machine's 1-minute load average, sampled every 5 s."""

    def __init__(self) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(5):
            self.samples.append(os.getloadavg()[0])

    def figures(self) -> dict[str, float]:
        self._stop.set()
        s = self.samples
        return {"start": s[0], "mean": round(sum(s) / len(s), 2), "max": max(s)}


class Workload:
    """The writers, their pauses for poison episodes, and the poison records' bookkeeping."""

    def __init__(self, stack: Stack, rt: Any, args: argparse.Namespace) -> None:
        self.args = args
        self.rt = rt
        ddb = stack.c["dynamodb"]
        self.writers = [Writer(ddb, f"w{i}") for i in range(args.writers)]
        self.poison_writer = Writer(ddb, "x")
        lock = threading.Lock() if args.serialize_writes else None
        for w in (*self.writers, self.poison_writer):
            w.lock = lock
        self.gate = Gate()
        self.pending: list[str] = []  # poison items to delete, mid-stream
        self.pending_lock = threading.Lock()
        self.episodes = 0
        self.started = time.time()
        stack.subscribe()  # the notification and event bus queues, read as the run goes

    def all(self) -> list[Writer]:
        return [*self.writers, self.poison_writer]

    def write(self, w: Writer, seed: int, count: int) -> None:
        rng = random.Random(f"{self.args.seed}/writer/{seed}")
        hot = [f"{w.prefix}-hot-{i}" for i in range(3)]
        pace = self.args.duration / count if count else 0.0
        next_at = time.time()
        for n in range(count):
            self.gate.enter()
            try:
                paused = time.time() - next_at > 1.0
                self.change(w, rng, hot)
                if seed == 0 and rng.random() < 0.01:
                    self.delete_poison()
            finally:
                self.gate.leave()
            next_at = time.time() if paused else next_at + pace
            delay = next_at - time.time()
            if delay > 0:
                time.sleep(delay)
            if seed == 0 and n and n % 1000 == 0:
                total = sum(x.count for x in self.all())
                print(f"  {time.time() - self.started:6.1f}s  {total} changes written", flush=True)

    @staticmethod
    def change(w: Writer, rng: random.Random, hot: list[str]) -> None:
        key = rng.choice(hot) if rng.random() < 0.3 else f"{w.prefix}-{rng.randrange(500)}"
        if key in w.live and rng.random() < 0.15:
            w.delete(key)
            return
        item = w.items.get(key)
        if item is None:
            job, status = rng.choice(JOBS), "APPLIED"  # an insert, or a re-create
        else:
            job, status = item["job_id"]["S"], item["status"]["S"]
            if rng.random() < 0.2:
                status = rng.choice([s for s in STATUSES if s != status])
            if rng.random() < 0.03:
                job = rng.choice([j for j in JOBS if j != job])  # the view key moves
        w.put(key, job, status={"S": status})

    def delete_poison(self) -> None:
        with self.pending_lock:
            key = self.pending.pop(0) if self.pending else ""
        if key:
            self.poison_writer.delete(key)

    def episode(self) -> None:
        """Writers paused and every lane idle, one transaction: a poison record (first in the
        next batch of its lane), 24 changes, a poison record (last in the batch of its lane:
        nothing follows until every lane is idle again, the poison records in the failure
        destination)."""
        i = self.episodes
        self.episodes += 1
        self.gate.close()
        try:
            self.rt.wait_caught_up(600)
            w = self.poison_writer
            bad = {"status": {"S": "APPLIED"}, "salary": {"N": TOO_MANY_DIGITS}}
            # One transaction, the first poison record in it too: written on its own just
            # before, it could be polled alone (a batch of one, never "first in a batch of
            # several"), as it was whenever the poll fell between the two calls.
            burst = [
                (f"x-{i}-{j}", JOBS[j % len(JOBS)], {"status": {"S": "APPLIED"}}) for j in range(24)
            ]
            w.put_many([(f"x-{i}-first", "J0", bad), *burst, (f"x-{i}-last", "J1", bad)])
            self.rt.wait_caught_up(600)
            with self.pending_lock:
                self.pending += [f"x-{i}-first", f"x-{i}-last"]
        finally:
            self.gate.open()

    def run(self) -> float:
        """Write everything; returns the seconds it took."""
        per_writer = self.args.changes // self.args.writers
        threads = [
            threading.Thread(target=self.write, args=(w, i, per_writer), daemon=True)
            for i, w in enumerate(self.writers)
        ]
        for t in threads:
            t.start()
        marks = [
            (k + 1) * self.args.changes // (self.args.poison_episodes + 1)
            for k in range(self.args.poison_episodes)
        ]
        while any(t.is_alive() for t in threads):
            if marks and sum(w.count for w in self.writers) >= marks[0]:
                marks.pop(0)
                self.episode()
            time.sleep(0.05)
        for _ in marks:
            self.episode()
        while self.pending:
            self.delete_poison()
        return time.time() - self.started


def settle(rt: Any, written: int, timeout: float = 900.0) -> bool:
    """Wait until the runtime caught up, or until every written change was done or sent to
    the failure destination and nothing moved for 5 s (a stuck tracker: see
    ``seq_collisions`` in docs/reliability.md)."""
    deadline = time.time() + timeout
    last, still = -1, time.time()
    while time.time() < deadline:
        if rt.caught_up(time.time() - 0.5):
            return True
        stats = list(rt.report.stats.values())
        done = sum(s.records_done + s.to_destination for s in stats)
        if done != last:
            last, still = done, time.time()
        elif done >= written and time.time() - still > 5:
            return True
        time.sleep(0.2)
    return False


def fixed_zip(code: Path, out: Path) -> Path:
    """``code`` plus soak_fixed.py: the release that handles the poison records."""
    shutil.copyfile(code, out)
    with zipfile.ZipFile(out, "a") as z:
        z.write(FIXED, "soak_fixed.py")
    return out


def ddbt(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
    }
    return subprocess.run(
        [sys.executable, "-m", "ddbt.cli", *args, "--endpoint-url", url, "--region", REGION],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def redrive(stack: Stack, url: str, state: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Switch the function to the fixed release, redrive the DLQ archives through it."""
    lam = stack.c["lambda"]
    zipped = fixed_zip(args.code, state / "fixed.zip")
    lam.update_function_code(FunctionName="pipeline", ZipFile=zipped.read_bytes())
    lam.update_function_configuration(FunctionName="pipeline", Handler="soak_fixed.handler")
    run = ddbt(
        url,
        *("redrive", "--from-s3", f"s3://{ARCHIVE_BUCKET}/{ARCHIVE_PREFIX}"),
        *("--function", "pipeline", "--invoke"),
    )
    return {
        "exit_status": run.returncode,
        "output": run.stdout.strip().splitlines()[-5:],
        "errors": run.stderr.strip().splitlines()[-5:] if run.returncode else [],
        "archives_left": len(stack.archives()),
    }


def positions(report: Observed, poison: set[str]) -> dict[str, int]:
    """Where the poison records were: ``first``, ``last``, ``middle`` or ``alone`` in the
    first batch that delivered each; ``led`` and ``ended``: how many of them were the first
    (the handler raises, Lambda bisects) or the last record of a batch of several at some
    delivery (redeliveries included)."""
    out: Counter[str] = Counter()
    seen: set[str] = set()
    led: set[str] = set()
    ended: set[str] = set()
    for inv in sorted(report.invocations, key=lambda i: i.start):
        n = len(inv.seqs)
        for index, seq in enumerate(inv.seqs):
            if seq not in poison:
                continue
            if n > 1 and index == 0:
                led.add(seq)
            if n > 1 and index == n - 1:
                ended.add(seq)
            if seq not in seen:
                seen.add(seq)
                place = "first" if index == 0 else "last" if index == n - 1 else "middle"
                out["alone" if n == 1 else place] += 1
    return {
        **{k: out.get(k, 0) for k in ("first", "last", "middle", "alone")},
        "led": len(led),
        "ended": len(ended),
    }


def account(
    stack: Stack,
    work: Workload,
    injector: Injector,
    report: Observed,
) -> dict[str, Any]:
    """Every processor's figures (``accounting.PROCESSORS``) against the stream (the truth)
    and the writers, with the checks of the stream and of the runtime's delivery order."""
    stream = acc.stream_changes(stack.stream_records())
    invocations = [i for i in report.invocations if i.function.endswith(":pipeline")]
    facts = acc.Facts(
        stream,
        work.all(),
        stack.items(TABLE),
        invocations,
        list(injector.sent),
        list(injector.kills),
    )
    processors = acc.account(stack, facts)
    _diagnose(stack, injector, processors)
    return {
        "stream_differs_from_writers": acc.stream_matches_writers(stream, facts.writers),
        "keys_delivered_out_of_order": acc.delivery_order(invocations),
        "processors": processors,
    }


def _diagnose(stack: Stack, injector: Injector, processors: dict[str, Any]) -> None:
    """diagnostics.json in the state directory: ETL lines found in several objects, the
    calls behind unattributed duplicates, the kills; with --trace, the checkpoint table."""
    where: dict[str, list[str]] = {}
    for key, lines in stack.etl_objects():
        for line in lines:
            where.setdefault(line["sequenceNumber"], []).append(key.rsplit("/", 1)[-1])
    diagnostics = {
        "etl_duplicates": {s: k for s, k in where.items() if len(k) > 1},
        "unattributed": {
            name: [
                {**dataclasses.asdict(x), "entries": len(x.entries)}
                for x in injector.sent
                if x.cls == cls
                and any(e in processors[name]["unattributed_examples"] for e, _ in x.entries)
            ]
            for name, cls in (("notification", "sns-publish"), ("eventbus", "events-put"))
            if name in processors
        },
        "kills": [dataclasses.asdict(k) for k in injector.kills],
    }
    (stack.state / "diagnostics.json").write_text(json.dumps(diagnostics, indent=1) + "\n")
    if injector.trace is not None:
        write_jsonl(stack.state / "checkpoints.jsonl", stack.items("checkpoints"))


def write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    """One JSON line per row (a dataclass as its fields) into ``path``."""
    with path.open("w") as out:
        for row in rows:
            data = dataclasses.asdict(row) if dataclasses.is_dataclass(row) else row
            out.write(json.dumps(data) + "\n")


OLD_KEYS = ("written", "delivered", "in_failure_records", "duplicates", "lost", "max_lag_s")


def run(args: argparse.Namespace, faults: bool) -> dict[str, Any]:
    """One run on a fresh endpoint: deploy, write, settle, account, redrive, account again.
    Its figures, ``failures`` (the targets missed, in words) included."""
    started = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    with local_endpoint_process(tmp / "endpoint") as url, Proxy(url) as proxy:
        commits = [0]

        def stalled(request: Request) -> bool:
            if not ddb_op("TransactWriteItems")(request):
                return False
            commits[0] += 1
            return commits[0] % 100 == 0

        stall = proxy.add(stalled, ("delay", STALL_SECONDS), times=args.stall_commits)
        injector = Injector(
            args.seed,
            BUCKET,
            scale=args.fault_scale,
            first_by=args.first_by,
            crash_gap=args.crash_gap,
            trace=args.trace,
        )
        injector.on = faults
        proxy.add(lambda r: True, ("custom", injector.handle), times=None)
        stack = Stack(url, tmp)
        layout = dataclasses.replace(
            WITH_CACHE,
            batch_size=args.batch_size,
            parallelization=args.parallelization,
            timeout=args.timeout,
        )
        stack.deploy(layout, code=args.code, sink_endpoint=proxy.url)
        report = Observed(out=(tmp / "invocations.log").open("w"))
        what = "faults injected" if faults else "no faults"
        print(f"soak: {args.changes} changes, {what}; state in {tmp}", flush=True)
        endpoint_pid = next(
            (pid for pid in _children() if b"ddbt.local.server" in _cmdline(pid)), 0
        )
        with report.trace():
            rt = stack.runtime(report=report, poll_interval=0.1)
            work = Workload(stack, rt, args)
            wrote_for = work.run()
            written = sum(w.count for w in work.all())
            caught_up = settle(rt, written)
            settled_for = time.time() - started - wrote_for
            injector.on = False
            stats = list(rt.report.stats.values())
            pipeline = [s for s in stats if s.function.endswith(":pipeline")]
            stream = acc.stream_changes(stack.stream_records())
            poison = {c.seq for c in stream if "salary" in (c.new or c.old or {})}
            archives = stack.archives()
            archived = [[r["dynamodb"]["SequenceNumber"] for r in a.records] for a in archives]
            live: dict[str, Any] = {
                "etl": acc.etl(stack.etl_lines(), stream, {s for a in archived for s in a}),
                "failure_records": acc.failure_records(
                    archived, sum(s.destination_messages for s in pipeline), poison
                ),
                "dlq_left": len(stack.drain(stack.dlq)),
                "poison_positions": positions(report, poison),
            }
            fixed = redrive(stack, url, tmp, args) if archives else {"skipped": "no archive"}
            rt.wait_caught_up(60)
            final = account(stack, work, injector, report)
            endpoint_cpu = _cpu(endpoint_pid)
            verify = ddbt(
                url,
                "verify-replica",
                "--source-table",
                TABLE,
                "--replica-table",
                stack.replica_arn,
                "--json",
            )
        stack.close()
    write_jsonl(tmp / "invocations.jsonl", report.invocations)
    write_jsonl(tmp / "sent.jsonl", injector.sent)  # every publish, to account for it again
    if injector.trace is not None:
        write_jsonl(tmp / "trace.jsonl", injector.trace)
    processors = final.pop("processors")
    etl = processors["etl"]
    result: dict[str, Any] = {
        "written": written,
        "delivered": etl["delivered"],
        "in_failure_records": live["failure_records"]["archived_records"],
        "duplicates": etl["duplicates"],
        "lost": max(live["etl"]["lost"], acc.lost(processors)),
        "max_lag_s": round(max((s.max_lag for s in pipeline), default=0.0), 2),
        "faults_on": faults,
        "seed": args.seed,
        "parallelization_factor": args.parallelization,
        "max_in_flight_per_shard": {
            f"{s.function.rsplit(':', 1)[-1]}/{shard}": n
            for s in pipeline
            for shard, n in sorted(s.in_flight_by_shard.items())
        },
        "faults": {**injector.figures()["injected"], "poison": len(poison)},
        "fault_detail": injector.figures(),
        "processors": processors,
        **final,
        "live_run": live,
        "redrive": fixed,
        "verify_replica": {
            "exit_status": verify.returncode,
            **(json.loads(verify.stdout) if verify.stdout.strip().startswith("{") else {}),
        },
        "invocations": sum(s.invocations for s in pipeline),
        "invocation_outcomes": {
            k: sum(getattr(s, k) for s in pipeline)
            for k in ("ok", "partial", "errors", "timeouts", "invalid", "records_delivered")
        },
        "caught_up": caught_up,
        "writers": args.writers,
        "poison_episodes": args.poison_episodes,
        "write_seconds": round(wrote_for, 1),
        "drain_seconds_after_writes": round(settled_for, 1),
        "wall_seconds": round(time.time() - started, 1),
        "endpoint_cpu_seconds": round(endpoint_cpu, 1),
        "stalled_commits": stall.hits,
        "state": str(tmp),
    }
    max_lag = args.max_lag if args.max_lag is not None else float("inf")
    result["failures"] = problems(result, max_lag)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # SIGTERM ends the run like Ctrl-C: the endpoint and the workers are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load = Load()
    started = time.time()
    result = run(args, faults=not args.no_faults)
    failures = list(result.pop("failures"))
    if not args.no_faults and args.fault_free_changes:
        # the comparison: the same write rate, no fault, no poison record
        quiet = argparse.Namespace(
            **{
                **vars(args),
                "changes": args.fault_free_changes,
                "duration": args.duration * args.fault_free_changes / max(1, args.changes),
                "poison_episodes": 0,
                "stall_commits": 0,
            }
        )
        free = run(quiet, faults=False)
        failures += [f"fault-free run: {line}" for line in free["failures"]]
        result["fault_free"] = {
            k: free[k]
            for k in (*OLD_KEYS, "max_in_flight_per_shard", "invocations", "wall_seconds")
        }
    cpu = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result |= {
        "total_wall_seconds": round(time.time() - started, 1),
        "cpu_seconds": round(sum(u.ru_utime + u.ru_stime for u in cpu), 1),
        "load_1min": load.figures(),
        "ok": not failures,
        "failures": failures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"soak: {json.dumps({k: result[k] for k in OLD_KEYS})}")
    if "fault_free" in result:
        print(f"soak: fault-free {json.dumps({k: result['fault_free'][k] for k in OLD_KEYS})}")
    print(f"soak: faults {json.dumps(result['faults'])}")
    print(f"soak: factor {args.parallelization}, in flight {result['max_in_flight_per_shard']}")
    print(f"soak: wall {result['total_wall_seconds']} s, cpu {result['cpu_seconds']} s", end=", ")
    print(f"load {result['load_1min']}")
    for line in failures:
        print(f"soak: FAILED: {line}")
    return 0 if not failures else 1


def _children() -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        out += [int(x) for x in task.read_text().split()]
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _cpu(pid: int) -> float:
    """CPU seconds a running process used so far (0 when unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def problems(r: dict[str, Any], max_lag: float) -> list[str]:
    """The targets a run missed, in words (empty: every one met): each processor's
    (``accounting.PROCESSORS``) and the run's own."""
    live = r["live_run"]
    live_etl, failed, place = live["etl"], live["failure_records"], live["poison_positions"]
    missing = [k for k in KINDS if not r["faults"].get(k)] if r["faults_on"] else []
    poisoned = r["poison_episodes"] > 0
    checks = {
        "the runtime caught up": r["caught_up"],
        "the stream holds exactly the writers' changes": r["stream_differs_from_writers"] == 0,
        "the runtime delivered every key's changes in order": r["keys_delivered_out_of_order"] == 0,
        "etl: every change once or in a failure record (before the redrive)": not (
            live_etl["lost"] or live_etl["duplicates"] or live_etl["both"]
        ),
        **{t: ok for p in r["processors"].values() for t, ok in p["targets"].items()},
        "ddbt verify-replica agrees": r["verify_replica"]["exit_status"] == 0,
        "poison: the failure records are exactly the injected ones": failed["exactly_the_injected"],
        "poison: at least 5, one first and one last in a batch of several": not poisoned
        or (failed["injected"] >= 5 and place["led"] >= 1 and place["ended"] >= 1),
        "redrive of the fixed release applied every archive": not poisoned
        or (r["redrive"].get("exit_status") == 0 and r["redrive"].get("archives_left") == 0),
        f"max lag at most {max_lag:.0f} s (--max-lag)": r["max_lag_s"] <= max_lag,
        f"every fault kind injected (missing: {', '.join(missing)})": not missing,
        "more than one invocation in flight on a shard at factor > 1": r["parallelization_factor"]
        == 1
        or any(n > 1 for n in r["max_in_flight_per_shard"].values()),
    }
    return [name for name, ok in checks.items() if not ok]


if __name__ == "__main__":
    sys.exit(main())
