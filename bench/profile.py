"""Where the time goes: ``python -m bench.profile <job> [view type] [--top N]``.

Runs one CPU job of ``bench.cpu`` (``etl``, ``notification``, ``analytics``,
``powertools_etl``, ``etl_encode``, ...) a few times under cProfile on the benchmark's
1,000-record event and prints the functions by own time and by cumulative time. Profiling
inflates Python-level call costs, so read shares, not absolute microseconds.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats

from bench import cpu, workload

__all__ = ["main", "profile"]


def profile(job: str, view_type: str = "NEW_AND_OLD_IMAGES", runs: int = 5, top: int = 25) -> str:
    text = workload.event_text(workload.BATCH, view_type)
    todo = cpu.jobs(text, view_type)[job]
    todo.run(json.loads(text) if todo.fresh else None)  # warm-up
    todo.release()
    profiler = cProfile.Profile()
    for _ in range(runs):
        event = json.loads(text) if todo.fresh else None
        gc.collect()
        profiler.enable()
        todo.run(event)
        profiler.disable()
        del event
        todo.release()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("job")
    parser.add_argument("view_type", nargs="?", default="NEW_AND_OLD_IMAGES")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    print(profile(args.job, args.view_type, args.runs, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
