"""What an entry point builds once per cold start and keeps for the life of the Lambda
runtime: its processors or configuration (``once``) and the checkpoint store from the
environment (``checkpoint_store``); ``reset`` forgets them (tests)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from handlers import aws
from handlers.checkpoint import CheckpointStore
from handlers.config import ConfigError

__all__ = ["checkpoint_store", "once", "reset"]

T = TypeVar("T")
_cached: dict[bool, CheckpointStore | None] = {}
_once: dict[str, Any] = {}


def reset() -> None:
    """Forget cached configuration (tests change the environment between cases)."""
    _cached.clear()
    _once.clear()


def once(name: str, factory: Callable[[Mapping[str, str]], T]) -> T:
    """``factory(os.environ)``, built and validated once per cold start, then cached."""
    if name not in _once:
        _once[name] = factory(os.environ)
    return _once[name]  # type: ignore[no-any-return]


def checkpoint_store(
    env: Mapping[str, str] | None = None, *, required: bool = False
) -> CheckpointStore | None:
    """The store named by ``CHECKPOINT_TABLE`` (None when unset and not required).

    Items are scoped by function name: separate functions reading the same stream have
    their own delivery chains and must not share progress.
    """
    if env is None:
        if required not in _cached:
            _cached[required] = checkpoint_store(dict(os.environ), required=required)
        return _cached[required]
    table = env.get("CHECKPOINT_TABLE", "").strip()
    if not table:
        if required:
            raise ConfigError(
                "environment variable CHECKPOINT_TABLE is required: the name of a DynamoDB "
                "table with a string hash key 'pk' where processors record their progress"
            )
        return None
    scope = env.get("AWS_LAMBDA_FUNCTION_NAME", "").strip() or "local"
    return CheckpointStore(table, scope, lambda: aws.client("dynamodb"))
