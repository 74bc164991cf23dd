"""A one-line progress display on stderr (redrawn in place on a terminal, else every few
seconds), stdlib only."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    def __init__(self, label: str, total: int | None = None, out: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.out = out if out is not None else sys.stderr
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._last = 0.0
        self._started = time.monotonic()
        self._tty = bool(getattr(self.out, "isatty", lambda: False)())

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                self.counts[name] = self.counts.get(name, 0) + n
            now = time.monotonic()
            if now - self._last >= (0.2 if self._tty else 5.0):
                self._last = now
                self._draw(final=False)

    def line(self) -> str:
        parts = [f"{name} {n}" for name, n in self.counts.items()]
        elapsed = time.monotonic() - self._started
        if self.total:
            first = next(iter(self.counts.values()), 0)
            parts.insert(0, f"{100 * first / self.total:5.1f}%")
        return f"{self.label}: {', '.join(parts)} ({elapsed:.1f}s)"

    def _draw(self, final: bool) -> None:
        text = self.line()
        if self._tty:
            self.out.write("\r\x1b[K" + text + ("\n" if final else ""))
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def done(self) -> None:
        with self._lock:
            self._draw(final=True)
