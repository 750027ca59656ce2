"""A log that a flood of bad requests cannot fill: at most so many warnings a minute, then a count.

uvicorn writes a warning line for every malformed request ("Invalid HTTP request received."), and
``serve`` one for every request it refuses before the application sees it (431): an attacker
sending thousands a second would fill the disk. :class:`WarningBudget` stands in for the logger of
:class:`pipeline.serving.protocol.JsonErrorProtocol`: the first :data:`WARNINGS_PER_INTERVAL`
warnings of each :data:`INTERVAL_S` go through, the rest are counted, and one line says how many
were suppressed when the interval ends. Every other level, and every attribute, is the logger's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

WARNINGS_PER_INTERVAL = 10
INTERVAL_S = 60.0


class WarningBudget:
    """A logger whose warnings are rate-limited: ``per_interval`` lines per ``interval_s``, then
    one ``suppressed K warnings`` line when the interval ends (at the next warning, or from a timer
    of the running event loop, so the count is told even if the flood stops)."""

    def __init__(
        self,
        logger: logging.Logger,
        per_interval: int = WARNINGS_PER_INTERVAL,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger, self.per_interval, self.interval_s, self.clock = logger, per_interval, interval_s, clock
        self.started = clock()
        self.written = 0  # warnings written in this interval
        self.suppressed = 0  # warnings dropped in this interval
        self.timer: asyncio.TimerHandle | None = None

    def __getattr__(self, name: str) -> Any:  # level, info, error, log...: the logger's
        return getattr(self.logger, name)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        now = self.clock()
        if now - self.started >= self.interval_s:
            self.flush()
            self.started = now
        if self.written < self.per_interval:
            self.written += 1
            self.logger.warning(msg, *args, **kwargs)
            return
        self.suppressed += 1
        if self.timer is None:
            self._schedule(self.started + self.interval_s - now)

    def flush(self) -> None:
        """End the interval: write how many warnings were suppressed in it, if any."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.suppressed:
            self.logger.warning(
                "suppressed %d warnings in the last %g s (at most %d are written per %g s)",
                self.suppressed,
                self.clock() - self.started,
                self.per_interval,
                self.interval_s,
            )
        self.written = self.suppressed = 0
        self.started = self.clock()

    def _schedule(self, delay_s: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a plain call): told at the next warning after the interval
            return
        self.timer = loop.call_later(max(delay_s, 0.0), self.flush)
