"""Failed-login limiter: a sliding window per username and per client address.

Kept in process memory: each replica limits on its own, which bounds guessing per
replica; a shared store is not worth a dependency for this.
"""

import time
from collections import defaultdict, deque

from app.errors import RateLimited


class LoginLimiter:
    def __init__(self, max_failures: int, window_seconds: float) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        stamps = self._failures[key]
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        return stamps

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            stamps = self._recent(key, now)
            if len(stamps) >= self.max_failures:
                retry_after = stamps[0] + self.window - now
                raise RateLimited("Too many failed logins; try again later.", retry_after=max(retry_after, 1.0))

    def record_failure(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._recent(key, now).append(now)

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)
