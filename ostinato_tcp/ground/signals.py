"""SIGINT and SIGTERM as :class:`~ostinato_tcp.errors.Interrupted`, with a shield.

A run must answer both signals the same way: stop transmit on every port, remove
what it created, restore what it changed, then exit 130 or 143 (the command line) or
raise :class:`Interrupted` (the library). :func:`stop_on_signals` routes both signals to
:class:`Interrupted` in the main thread for the time of a block (every run and sweep
uses it, so a library caller gets the same clean-up as the command line; the handlers
that were there come back afterwards). Code that must not be cut short (stopping and
cleaning up) runs inside :func:`shielded`, where a signal is only remembered and raised
when the shield is left.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from ostinato_tcp.errors import Interrupted

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
    """Route SIGINT and SIGTERM to :class:`Interrupted` for good (main thread only; idempotent)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    _installed = True


@contextmanager
def stop_on_signals():
    """SIGINT and SIGTERM raise :class:`Interrupted` inside the block (main thread only; outside
    it, or in another thread, the block runs as it is); the old handlers come back afterwards."""
    if _installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


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



def cancel_on(event: "threading.Event") -> None:
    """In a worker thread: :func:`checkpoint` raises once ``event`` is set (its ``error``
    attribute, or :class:`Interrupted` by SIGINT). Signals reach only the main thread, so a run
    over several port pairs stops its pair threads this way."""
    _state.cancel = event


def checkpoint() -> None:
    """Raise the current thread's cancellation (see :func:`cancel_on`), outside shielded blocks."""
    ev = getattr(_state, "cancel", None)
    if ev is not None and ev.is_set() and _depth() == 0:
        raise getattr(ev, "error", None) or Interrupted(signal.SIGINT)
