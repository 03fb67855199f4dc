"""One function run beside the main thread, its error handed back at ``join()``."""

from __future__ import annotations

import threading


class Background(threading.Thread):
    """Runs ``fn`` in a daemon thread at once; ``join()`` re-raises its error."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.error = fn, None
        self.start()

    def run(self) -> None:
        try:
            self.fn()
        except BaseException as exc:  # handed to join()
            self.error = exc

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error

    def join_quietly(self) -> None:
        """Wait for ``fn`` to end and drop its error (a clean-up path: another error is the one reported)."""
        super().join()
