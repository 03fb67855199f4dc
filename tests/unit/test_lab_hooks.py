"""The lab tests' Drone-deadlock detection (tests/conftest.py), on thread lists as /proc gives them."""

from __future__ import annotations

import time

from tests import conftest as hooks


def deadlocked(monkeypatch, tmp_path, rows: list[str]) -> str | None:
    monkeypatch.setattr(hooks, "drone_thread_rows", lambda pidfile: (42, rows))
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    return hooks.capture_deadlocked(tmp_path / "drone.pid")


def test_the_capture_deadlock_is_seen_whichever_thread_is_listed_first(monkeypatch, tmp_path):
    # as a wedged lab Drone showed it: the RPC thread in the capture stop's wait loop has the lowest tid
    rows = ["RPC:S:hrtimer_nanosleep", "EmulXcvr:porta:S:poll_schedule_timeout", "Capture:porta:S:futex_do_wait",
            "RPC:S:futex_do_wait"]
    assert deadlocked(monkeypatch, tmp_path, rows) == "pid 42 threads " + ", ".join(rows)
    assert deadlocked(monkeypatch, tmp_path, rows[1:] + rows[:1]) is not None


def test_a_drone_without_a_blocked_capture_or_waiting_rpc_is_not_deadlocked(monkeypatch, tmp_path):
    assert deadlocked(monkeypatch, tmp_path, ["RPC:S:hrtimer_nanosleep", "Capture:porta:S:poll_schedule_timeout"]) is None
    assert deadlocked(monkeypatch, tmp_path, ["RPC:S:futex_do_wait", "Capture:porta:S:futex_do_wait"]) is None


def test_the_device_emulation_deadlock_is_seen_too(monkeypatch, tmp_path):
    # as a fresh clone's CI showed it: no capture open, the emulation thread wedged by the last
    # device group's delete, the RPC thread in the stop's wait loop
    rows = ["drone:S:futex_do_wait", "TxStats:porta:S:hrtimer_nanosleep", "RPC:S:futex_do_wait",
            "RPC:S:hrtimer_nanosleep", "EmulXcvr:porta:S:futex_do_wait"]
    assert deadlocked(monkeypatch, tmp_path, rows) == "pid 42 threads " + ", ".join(rows)
    assert deadlocked(monkeypatch, tmp_path, [r.replace("EmulXcvr:porta:S:futex_do_wait", "EmulXcvr:porta:S:"
                                                        "poll_schedule_timeout") for r in rows]) is None
