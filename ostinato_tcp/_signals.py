"""SIGINT and SIGTERM as :class:`~ostinato_tcp.errors.Interrupted`, with a shield.

A run must answer both signals the same way: stop transmit on every port, remove
what it created, restore what it changed, then exit 130 or 143. The handler raises
:class:`Interrupted` in the main thread; code that must not be cut short (stopping
and cleaning up) runs inside :func:`shielded`, where a signal is only remembered
and raised when the shield is left.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from .errors import Interrupted

_state = threading.local()
_pending: list[int] = []
_installed = False


def _depth() -> int:
    return getattr(_state, "depth", 0)


def _handler(signum, frame) -> None:
    if _depth() > 0:
        _pending.append(signum)
        return
    raise Interrupted(signum)


def install() -> None:
    """Route SIGINT and SIGTERM to :class:`Interrupted` (main thread only; idempotent)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    _installed = True


@contextmanager
def shielded():
    """Defer SIGINT/SIGTERM until the block ends (nested blocks are fine)."""
    _state.depth = _depth() + 1
    try:
        yield
    finally:
        _state.depth = _depth() - 1
        if _state.depth == 0 and _pending:
            signum = _pending.pop(0)
            _pending.clear()
            raise Interrupted(signum)

