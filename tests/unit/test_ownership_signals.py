"""Owner tags of Drone ports and the signal shield (the lab tests drive both end to end)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from ostinato_tcp.ground import signals as _signals
from ostinato_tcp.errors import Interrupted
from ostinato_tcp.ground.naming import OWNER_RE, owner_is_gone, owner_tag


def test_owner_tag_names_pid_host_and_scenario():
    tag = owner_tag("nightly")
    m = OWNER_RE.match(tag)
    assert m and int(m.group(1)) == os.getpid() and m.group(2) == socket.gethostname()
    assert tag.endswith("(scenario nightly)")


def test_owner_is_gone_only_for_a_dead_process_of_this_host():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    assert owner_is_gone(f"ostinato-tcp run pid {dead.pid} on {host} by root (scenario x)")
    assert not owner_is_gone(owner_tag("x"))  # this process is alive
    assert not owner_is_gone(f"ostinato-tcp run pid {dead.pid} on another-{host} by root (scenario x)")
    assert not owner_is_gone("alice")
    assert not owner_is_gone("")


@pytest.fixture
def handlers():
    """Install the project's handlers for one test; pytest's own come back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    _signals.install()
    yield
    for s, h in saved.items():
        signal.signal(s, h)
    _signals._installed = False


def test_signal_inside_the_shield_is_raised_when_it_ends(handlers):
    reached_end_of_block = False
    with pytest.raises(Interrupted) as info:
        with _signals.shielded():
            os.kill(os.getpid(), signal.SIGTERM)
            reached_end_of_block = True  # the handler did not cut the block short
    assert reached_end_of_block
    assert info.value.signum == signal.SIGTERM and info.value.exit_code == 143


def test_signal_outside_the_shield_interrupts_at_once(handlers):
    with pytest.raises(Interrupted) as info:
        os.kill(os.getpid(), signal.SIGINT)
        signal.pause()  # not reached: the handler raises first
    assert info.value.exit_code == 130
