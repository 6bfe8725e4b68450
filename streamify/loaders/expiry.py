from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ResponseExpiry:
    """Until when (the reader's monotonic clock) a response built in this request may be kept:
    None while nothing it read expires by itself (the cache tier's versions say when the
    rest changes)."""

    at: float | None = None

    def no_later_than(self, moment: float) -> None:
        if self.at is None or moment < self.at:
            self.at = moment
