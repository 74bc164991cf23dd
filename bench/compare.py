"""A/B CPU per record of two checkouts: ``python -m bench.compare BASE [options]``.

Runs ``bench.cpu.measure`` of each tree (its own code, its own interpreter: ``BASE/.venv``
unless ``--base-python``) in short subprocesses, alternating A and B (ABBA order, so a drift in
machine load falls on both), and prints, per view type and job, the median over the runs of
each tree and their ratio B/A with the spread of the paired ratios. On a shared machine a
single run swings by ±10%; many short interleaved runs cancel most of that.

Only jobs present in both trees are compared; by default the Powertools contenders are left
out (``--jobs REGEX`` picks others, e.g. ``--jobs .`` for all).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Row", "compare", "main", "measure", "render"]

# Runs in the measured tree (cwd), so it may use only what every tree's bench.cpu has:
# ``jobs(text, view_type)`` and ``measure(view_type, rounds)`` returning ``.median`` timings.
_CHILD = """
import json, re, sys
from bench import cpu
view_type, rounds, pattern = sys.argv[1], int(sys.argv[2]), re.compile(sys.argv[3])
every = cpu.jobs
cpu.jobs = lambda text, view_type="NEW_AND_OLD_IMAGES": {
    name: job for name, job in every(text, view_type).items() if pattern.search(name)
}
print(json.dumps({name: t.median for name, t in cpu.measure(view_type, rounds).items()}))
"""

DEFAULT_JOBS = r"^(?!powertools_)"


@dataclass(frozen=True)
class Row:
    """One job of one view type: medians (µs/record) of A and B over the runs, and the
    paired per-run ratios B/A."""

    view_type: str
    job: str
    a: float
    b: float
    ratios: tuple[float, ...]

    @property
    def ratio(self) -> float:
        return self.b / self.a


def measure(tree: Path, python: str, view_type: str, rounds: int, jobs: str) -> dict[str, float]:
    """One subprocess run of ``tree``'s CPU table: median µs/record per job."""
    done = subprocess.run(
        [python, "-c", _CHILD, view_type, str(rounds), jobs],
        cwd=tree,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    if done.returncode:
        raise SystemExit(f"{python} in {tree} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def compare(
    base: Path,
    base_python: str,
    tree: Path,
    python: str,
    view_types: list[str],
    alternations: int,
    rounds: int,
    jobs: str = DEFAULT_JOBS,
) -> list[Row]:
    """``alternations`` ABBA-ordered runs of each tree per view type, compared job by job."""
    rows: list[Row] = []
    for view_type in view_types:
        runs: dict[str, list[dict[str, float]]] = {"a": [], "b": []}
        for i in range(alternations):
            order = ("a", "b") if i % 2 == 0 else ("b", "a")
            for side in order:
                where, interpreter = (base, base_python) if side == "a" else (tree, python)
                runs[side].append(measure(where, interpreter, view_type, rounds, jobs))
            print(f"{view_type}: {i + 1}/{alternations}", file=sys.stderr, flush=True)
        common = [name for name in runs["b"][0] if name in runs["a"][0]]
        for name in common:
            a = [run[name] for run in runs["a"]]
            b = [run[name] for run in runs["b"]]
            rows.append(
                Row(
                    view_type,
                    name,
                    statistics.median(a),
                    statistics.median(b),
                    tuple(y / x for x, y in zip(a, b, strict=True)),
                )
            )
    return rows


def render(rows: list[Row]) -> str:
    """A table: job, A and B medians, B/A, and the paired ratios' low, median and high."""
    lines = [
        f"{'view type':<19}{'job':<22}{'A µs':>8}{'B µs':>8}{'B/A':>7}  paired B/A  low   med  high"
    ]
    for r in rows:
        low, mid, high = min(r.ratios), statistics.median(r.ratios), max(r.ratios)
        lines.append(
            f"{r.view_type:<19}{r.job:<22}{r.a:>8.2f}{r.b:>8.2f}{r.ratio:>7.2f}"
            f"{low:>17.2f}{mid:>6.2f}{high:>6.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("base", type=Path, help="tree A (the baseline checkout)")
    parser.add_argument("--base-python", help="A's interpreter (default BASE/.venv/bin/python)")
    parser.add_argument("--tree", type=Path, default=Path.cwd(), help="tree B (default: cwd)")
    parser.add_argument("--python", default=sys.executable, help="B's interpreter")
    parser.add_argument(
        "--view-types", nargs="+", default=["KEYS_ONLY", "NEW_AND_OLD_IMAGES"], metavar="VIEW"
    )
    parser.add_argument("--alternations", type=int, default=10, help="runs of each tree")
    parser.add_argument("--rounds", type=int, default=5, help="bench.cpu rounds per run")
    parser.add_argument("--jobs", default=DEFAULT_JOBS, help="regex of job names to compare")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    base: Path = args.base.resolve()
    load = os.getloadavg()[0]
    rows = compare(
        base,
        args.base_python or str(base / ".venv" / "bin" / "python"),
        args.tree.resolve(),
        args.python,
        args.view_types,
        args.alternations,
        args.rounds,
        args.jobs,
    )
    print(render(rows))
    print(
        f"{args.alternations} alternations x {args.rounds} rounds;"
        f" 1-min load {load:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )
    if args.json:
        args.json.write_text(
            json.dumps([{**r.__dict__, "ratio": r.ratio} for r in rows], indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
