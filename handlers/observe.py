"""Structured JSON log lines and CloudWatch Embedded Metric Format (EMF) metrics.

Lambda sends stdout to CloudWatch Logs; CloudWatch extracts EMF documents into metrics with
no API call. One log line per batch and per failed record; one EMF document per processor
per batch.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

__all__ = ["DEFAULT_NAMESPACE", "emit_metrics", "log"]

DEFAULT_NAMESPACE = "DynamoDBTriggers"
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
_stream: TextIO | None = None


def _out() -> TextIO:
    return _stream or sys.stdout


def _enabled(level: str) -> bool:
    wanted = _LEVELS.get(os.environ.get("LOG_LEVEL", "INFO").upper(), 20)
    return _LEVELS.get(level, 20) >= wanted


def log(level: str, message: str, **fields: Any) -> None:
    """Write one JSON log line (``level``, ``message``, then the given fields)."""
    if not _enabled(level):
        return
    line = {"level": level, "message": message, **fields}
    _out().write(json.dumps(line, default=str, separators=(",", ":")) + "\n")


def emit_metrics(
    metrics: Mapping[str, tuple[float, str]],
    dimensions: Mapping[str, str],
    namespace: str | None = None,
) -> None:
    """Write one EMF document: ``metrics`` maps a name to (value, unit)."""
    doc: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace
                    or os.environ.get("METRICS_NAMESPACE")
                    or DEFAULT_NAMESPACE,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [
                        {"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()
                    ],
                }
            ],
        },
        **dimensions,
        **{name: value for name, (value, _) in metrics.items()},
    }
    _out().write(json.dumps(doc, separators=(",", ":")) + "\n")
