"""Cold start: import time of each entry point and of boto3 alone, each in a fresh interpreter.

Each sample is a new ``python -c`` process (bytecode already compiled by an untimed first run,
as in a deployed function; the files are in the OS cache, as after the first cold start on a
Lambda host). Inside it, ``time.process_time`` (CPU time of the child, user plus system, so other
processes on a busy machine do not count) brackets ``import handlers.<name>`` (the
interpreter's own start-up is the same for every contender and not counted), then building
the processor from the environment and creating the boto3 client(s) it uses: our handlers
import boto3 lazily on first client use, so the import alone flatters them and the honest cold
start figure is import + first client, compared with ``import boto3`` + the same client(s).
Kinds are interleaved round by round; the figure is the median.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench import api
from handlers import registry

__all__ = ["ENTRY_POINTS", "child_ms", "measure"]

ENTRY_POINTS = registry.ENTRY_POINTS

_OURS = """
import time
t0 = time.process_time()
import handlers.{name} as m
t1 = time.process_time()
import os
from handlers import aws
m.build(os.environ)
for service in {services!r}:
    aws.client(service)
t2 = time.process_time()
print(t1 - t0, t2 - t0)
"""

_BOTO3 = """
import time
t0 = time.process_time()
import boto3
t1 = time.process_time()
for service in {services!r}:
    boto3.client(service)
t2 = time.process_time()
print(t1 - t0, t2 - t0)
"""


def _environment(name: str) -> dict[str, str]:
    env = dict(os.environ)
    for variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "PYTHONDONTWRITEBYTECODE"):
        env.pop(variable, None)
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent/bench-aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/bench-aws-credentials",
        }
    )
    env.update(api._environment(name))
    return env


def child_ms(code: str, env: dict[str, str], cwd: Path) -> list[float]:
    """Run ``code`` in a fresh interpreter; the seconds it prints, in milliseconds."""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed: {out.stderr.strip()[-2000:]}")
    return [float(value) * 1000 for value in out.stdout.split()]


def measure(rounds: int, root: Path) -> dict[str, float]:
    """{figure: milliseconds}: ``import_ms_<name>``, ``cold_ms_<name>`` (import, build and
    first client(s)), ``import_ms_boto3``, ``cold_ms_boto3_<name>`` (boto3 and the same
    client(s)), medians over ``rounds`` fresh interpreters each."""
    kinds: dict[str, tuple[str, dict[str, str]]] = {}
    for name in ENTRY_POINTS:
        services = api.SERVICES[name]
        kinds[name] = (_OURS.format(name=name, services=services), _environment(name))
        kinds[f"boto3_{name}"] = (_BOTO3.format(services=services), _environment(name))
    samples: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    for round_ in range(rounds + 1):  # round 0 compiles bytecode and warms the file cache
        for kind, (code, env) in kinds.items():
            first, second = child_ms(code, env, root)  # import, then cold start
            if round_:
                samples[kind].append((first, second))
    figures: dict[str, float] = {}
    boto3_imports: list[float] = []
    for kind, values in samples.items():
        imports = [v[0] for v in values]
        colds = [v[1] for v in values]
        if kind.startswith("boto3_"):
            boto3_imports.extend(imports)
            figures[f"cold_ms_{kind}"] = statistics.median(colds)
        else:
            figures[f"import_ms_{kind}"] = statistics.median(imports)
            figures[f"cold_ms_{kind}"] = statistics.median(colds)
    figures["import_ms_boto3"] = statistics.median(boto3_imports)
    return figures
