"""Durable poller progress: one JSON file (``build/local/checkpoints.json`` by default).

Per mapping UUID and shard: the last sequence number whose record and all earlier ones are
done (processed, filtered out or sent to the destination), whether the shard is finished, the
lower time bound of a LATEST start, tumbling-window state, and per lane the first and last
sequence numbers of the batch in flight (``inflight-<lane>``). A restarted poller resumes
AFTER_SEQUENCE_NUMBER the checkpoint, as Lambda does after an update or a re-enable, and
redelivers a batch that was in flight as it was (``ddbt.local.stream_poller._Lane._replay``).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["ShardCheckpointFile", "ShardCheckpoints"]


class ShardCheckpoints:
    """In-memory store (tests, or ``--no-checkpoint``)."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.RLock()

    def get(self, mapping: str, shard: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._data.get(mapping, {}).get(shard, {}))

    def update(self, mapping: str, shard: str, **values: Any) -> None:
        with self._lock:
            self._data.setdefault(mapping, {}).setdefault(shard, {}).update(values)
            self._saved()

    def shards(self, mapping: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._data.get(mapping, {}).items()}

    def forget(self, mapping: str) -> None:
        with self._lock:
            if self._data.pop(mapping, None) is not None:
                self._saved()

    def _saved(self) -> None:
        pass


class ShardCheckpointFile(ShardCheckpoints):
    """The same, written atomically to ``path`` after every change."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        if path.exists():
            try:
                self._data = json.loads(path.read_text()).get("mappings", {})
            except ValueError:
                self._data = {}

    def _saved(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps({"mappings": self._data}, indent=1, sort_keys=True))
        tmp.replace(self.path)
