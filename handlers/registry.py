"""The processor registry: one entry per processor, in the order the pipeline runs them.

Every other list of processors in Python derives from ``PROCESSORS`` (the pipeline's
``PROCESSORS`` choices, the ops tools' ``--processor`` names, the bench, the package tests).
Terraform keeps its own registry (``processor_registry`` and
``processor_wiring`` in processors.tf), and ``tests/unit/test_registry.py`` holds it, the
variable validations, the docs and the handler modules to this one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENTRY_POINTS", "NAMES", "PIPELINE", "PROCESSORS", "ProcessorSpec", "spec"]


@dataclass(frozen=True)
class ProcessorSpec:
    """What the rest of the project needs to know about one processor."""

    name: str
    # Environment variables its ``build(env)`` reads: those it cannot run without, and the rest.
    required_env: tuple[str, ...]
    optional_env: tuple[str, ...]
    # boto3 services of its sinks (the clients it creates).
    services: tuple[str, ...]
    # Whether it keeps a tumbling window's state across invocations (refused at
    # parallelization factor > 1).
    window_state: bool = False
    # Whether it needs the item's new image (NEW_IMAGE or NEW_AND_OLD_IMAGES streams).
    needs_images: bool = False
    # Its own page in docs/ (docs/<page>.md, with its variables), or None when
    # docs/handlers.md covers it.
    page: str | None = None

    @property
    def module(self) -> str:
        """The module that builds it and holds its Lambda entry point."""
        return f"handlers.{self.name}"

    @property
    def handler(self) -> str:
        """Its Lambda entry point (the function's ``Handler`` setting)."""
        return f"{self.module}.handler"

    @property
    def env(self) -> tuple[str, ...]:
        return self.required_env + self.optional_env


PROCESSORS: tuple[ProcessorSpec, ...] = (
    ProcessorSpec(
        name="analytics",
        required_env=("AGGREGATES_TABLE",),
        optional_env=("ANALYTICS_GROUP_BY",),
        services=("dynamodb",),
        window_state=True,
    ),
    ProcessorSpec(
        name="notification",
        required_env=("NOTIFY_TOPIC_ARN",),
        optional_env=(
            "NOTIFY_EVENTS",
            "NOTIFY_ATTRIBUTES",
            "NOTIFY_REDACT",
            "NOTIFY_PUBLISH_CONCURRENCY",
        ),
        services=("sns",),
        page="notification",
    ),
    ProcessorSpec(
        name="etl",
        required_env=("ETL_BUCKET",),
        optional_env=("ETL_PREFIX",),
        services=("s3",),
        page="etl",
    ),
    ProcessorSpec(
        name="eventbus",
        required_env=("EVENTBUS_NAME",),
        optional_env=(
            "EVENTBUS_SOURCE",
            "EVENTBUS_EVENTS",
            "EVENTBUS_REDACT",
            "EVENTBUS_NUMBERS",
            "EVENTBUS_PUBLISH_CONCURRENCY",
        ),
        services=("events",),
        page="eventbus",
    ),
    ProcessorSpec(
        name="view",
        required_env=("VIEW_TABLE", "VIEW_PARTITION_KEY"),
        optional_env=(
            "VIEW_SORT_KEY",
            "VIEW_ATTRIBUTES",
            "VIEW_VERSION_ATTRIBUTE",
            "VIEW_WRITE_CONCURRENCY",
        ),
        services=("dynamodb",),
        needs_images=True,
        page="view",
    ),
    ProcessorSpec(
        name="replicate",
        required_env=("REPLICA_TABLE",),
        optional_env=(
            "REPLICA_REGION",
            "REPLICATE_VERSION_ATTRIBUTE",
            "REPLICATE_WRITE_CONCURRENCY",
        ),
        services=("dynamodb",),
        needs_images=True,
        page="replicate",
    ),
    ProcessorSpec(
        name="cache",
        required_env=("CACHE_ENDPOINT",),
        optional_env=(
            "CACHE_TLS",
            "CACHE_AUTH_SECRET_ARN",
            "CACHE_KEY_PREFIX",
            "CACHE_ATTRIBUTES",
            "CACHE_TTL_SECONDS",
            "CACHE_VERSION_ATTRIBUTE",
        ),
        services=("secretsmanager",),
        needs_images=True,
        page="cache",
    ),
)

NAMES: tuple[str, ...] = tuple(p.name for p in PROCESSORS)
# The entry point that runs several processors over one batch (handlers/pipeline.py).
PIPELINE = "pipeline"
# The entry points that run processors over a stream batch, by module name.
ENTRY_POINTS: tuple[str, ...] = (*NAMES, PIPELINE)


def spec(name: str) -> ProcessorSpec:
    """The entry of processor ``name`` (KeyError naming the known ones otherwise)."""
    for entry in PROCESSORS:
        if entry.name == name:
            return entry
    raise KeyError(f"no processor {name!r}: one of {', '.join(NAMES)}")
