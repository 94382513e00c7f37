"""A one-line progress bar: chunks done, features per second, time left.

Drawn on a terminal only (``stream.isatty()``), and never when disabled; it
rewrites its line with ``\\r`` at most ``min_interval`` seconds apart.
"""

from __future__ import annotations

import sys
import time


def _hms(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--:--"
    s = int(round(seconds))
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """Progress of ``total`` chunks of which ``done`` were finished before this run."""

    def __init__(self, total: int, done: int = 0, *, enabled: bool | None = None, stream=None,
                 min_interval: float = 0.2, width: int = 30):
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.total, self.done, self.start_done = total, done, done
        self.features = 0
        self.t0 = time.perf_counter()
        self._last = -float("inf")
        self._shown = ""
        self.min_interval, self.width = min_interval, width
        self._draw(force=True)

    def line(self) -> str:
        """The current progress line (without the carriage return)."""
        elapsed = time.perf_counter() - self.t0
        rate = self.features / elapsed if elapsed > 0 else 0.0
        new = self.done - self.start_done
        left = (self.total - self.done) * elapsed / new if new else float("inf")
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * self.width)
        return (f"[{bar:<{self.width}s}] {self.done}/{self.total} chunks  "
                f"{rate:9.3e} features/s  {_hms(left)} left")

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if force or now - self._last >= self.min_interval:
            line = self.line()
            if line == self._shown:
                return
            self._shown = line
            self.stream.write("\r" + line)
            self.stream.flush()
            self._last = now

    def update(self, features: int) -> None:
        """One more chunk of ``features`` features is done."""
        self.done += 1
        self.features += features
        self._draw(force=self.done == self.total)

    def close(self) -> None:
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
