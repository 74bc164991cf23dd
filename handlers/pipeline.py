"""Pipeline: several processors over the same batch in one function (one stream reader).

DynamoDB Streams throttle beyond two concurrent readers per shard, so running analytics,
notification and ETL as one function keeps a single reader. ``PROCESSORS`` names them; they
run at once over each batch (``handlers.batch``: one thread each, so their sinks' round trips
overlap), and their order only breaks ties: of two failures at the same record, the first
processor's is reported. ``CHECKPOINT_TABLE`` is required, because a redelivery caused by one
processor must not repeat the side effects of the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from handlers.batch import Processor, run_batch
from handlers.config import ConfigError, env_list
from handlers.runtime import checkpoint_store, once

__all__ = ["PROCESSOR_NAMES", "build", "handler", "processors"]

PROCESSOR_NAMES = ("analytics", "notification", "etl", "eventbus", "view", "replicate")


def _builder(name: str) -> Callable[[Mapping[str, str]], Processor]:
    # Imported on demand: a pipeline without notification never imports its module.
    module = importlib.import_module(f"handlers.{name}")
    factory: Callable[[Mapping[str, str]], Processor] = module.build
    return factory


def build(env: Mapping[str, str]) -> list[Processor]:
    names = env_list(env, "PROCESSORS", allowed=PROCESSOR_NAMES)
    if not names:
        raise ConfigError(
            "environment variable PROCESSORS is required: a comma-separated list of "
            f"{','.join(PROCESSOR_NAMES)} (the processors this function runs, in order)"
        )
    checkpoint_store(env, required=True)
    return [_builder(name)(env) for name in names]


def processors() -> list[Processor]:
    """The processors configured from the environment (once per cold start)."""
    return once("pipeline", build)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: ``handlers.pipeline.handler``."""
    return run_batch(event, context, processors(), checkpoint_store(required=True))
