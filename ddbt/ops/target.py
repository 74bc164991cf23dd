"""Where ops commands send records: processors built in-process with the function's
configuration (``build(env)`` of a ``handlers`` module, run through ``run_batch`` exactly as
the Lambda handler would), or the deployed function invoked with a synthesized event."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from handlers.registry import ENTRY_POINTS

__all__ = [
    "InProcessTarget",
    "LambdaTarget",
    "Result",
    "Target",
    "function_env",
    "in_process",
    "module_name",
]


@dataclass(frozen=True)
class Result:
    """``done`` leading records were applied; the rest failed (``error`` says why, if known)."""

    done: int
    error: str = ""


class Target(Protocol):
    def run(self, records: Sequence[Mapping[str, Any]]) -> Result: ...


class _Context:
    function_name = "ddbt"
    aws_request_id = "ddbt-ops"

    def __init__(self, remaining_ms: int) -> None:
        self._ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._ms


def _done_from_response(response: Any, records: Sequence[Mapping[str, Any]]) -> Result:
    """How many leading records a function's response says were applied, judged as Lambda
    judges it (``ddbt.engine.item_failures``: an invalid response fails the whole batch)."""
    from ddbt.engine import item_failures

    verdict, indexes = item_failures(response, [r["dynamodb"]["SequenceNumber"] for r in records])
    if verdict == "ok":
        return Result(len(records))
    if verdict == "partial":
        i = min(indexes)
        return Result(i, f"{len(records) - i} record(s) reported as batch item failures")
    return Result(0, "the response is not a valid batchItemFailures report (whole batch failed)")


def module_name(processor: str) -> str:
    """``etl`` -> ``handlers.etl``; ``handlers.etl.handler`` -> ``handlers.etl``."""
    if "." not in processor:
        return f"handlers.{processor}"
    if processor.endswith(".handler"):
        return processor.rsplit(".", 1)[0]
    return processor


class InProcessTarget:
    """``run_batch`` over the processors ``<module>.build(env)`` returns."""

    def __init__(self, module: str, env: Mapping[str, str], timeout_ms: int = 900_000) -> None:
        from handlers import runtime

        mod = importlib.import_module(module_name(module))
        built = mod.build(dict(env))
        self.processors: list[Any] = list(built) if isinstance(built, list) else [built]
        store = runtime.checkpoint_store(dict(env))
        if store is None and len(self.processors) == 1:
            store = getattr(self.processors[0], "own_store", None)
        self.store = store
        self.timeout_ms = timeout_ms

    def run(self, records: Sequence[Mapping[str, Any]]) -> Result:
        from handlers.batch import BatchFailed, run_batch

        if not records:
            return Result(0)
        try:
            response = run_batch(
                {"Records": list(records)},
                _Context(self.timeout_ms),
                self.processors,
                self.store,
            )
        except BatchFailed as exc:
            return Result(0, str(exc))
        return _done_from_response(response, records)


class LambdaTarget:
    """Invokes the deployed function (RequestResponse) with the records as one event."""

    def __init__(self, function: str, lambda_client: Any) -> None:
        self.function = function
        self.client = lambda_client

    def run(self, records: Sequence[Mapping[str, Any]]) -> Result:
        if not records:
            return Result(0)
        reply = self.client.invoke(
            FunctionName=self.function,
            InvocationType="RequestResponse",
            Payload=json.dumps({"Records": list(records)}).encode(),
        )
        payload = reply["Payload"].read()
        if reply.get("FunctionError"):
            # Lambda's error payload: {"errorMessage", "errorType", "requestId", "stackTrace"}
            try:
                error = json.loads(payload)
                detail = f"{error.get('errorType', '')}: {error.get('errorMessage', '')}"
            except (ValueError, AttributeError):
                detail = payload.decode("utf-8", "replace")
            return Result(0, f"{reply['FunctionError']} {detail[:300]}")
        try:
            response = json.loads(payload or b"null")
        except ValueError:
            response = None
        return _done_from_response(response, records)


def function_env(function: str, lambda_client: Any) -> tuple[str, dict[str, str]]:
    """(handler module, environment) of a deployed function (GetFunctionConfiguration);
    ``AWS_LAMBDA_FUNCTION_NAME`` is set so checkpoints share the function's scope."""
    config = lambda_client.get_function_configuration(FunctionName=function)
    env = dict((config.get("Environment") or {}).get("Variables") or {})
    env.setdefault("AWS_LAMBDA_FUNCTION_NAME", config.get("FunctionName", function))
    return module_name(config.get("Handler", "")), env


def in_process(
    processor: str | None,
    env: Mapping[str, str],
    function: str | None,
    lambda_client: Callable[[], Any],
) -> InProcessTarget:
    """Build the in-process target: from ``--function``'s configuration (``env`` overriding
    its variables) or from ``--processor`` and ``env``."""
    merged = dict(env)
    module = processor
    if function:
        handler_module, fenv = function_env(function, lambda_client())
        merged = {**fenv, **env}
        module = processor or handler_module
    if not module:
        raise ValueError(f"name a processor (--processor {'|'.join(ENTRY_POINTS)})")
    return InProcessTarget(module, merged)
