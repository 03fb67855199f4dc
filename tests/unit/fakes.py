"""Test doubles for the run's phases: a scripted DUT session beside the library's FakeDrone.

They prove the order of calls and the clean-up, never that a DUT tracked a connection
(the lab tests do that against a real Drone and a real conntrack)."""

from __future__ import annotations

import ipaddress

from ostinato_tcp.dut import Health, judge_text
from ostinato_tcp.errors import DutCommandError


class ScriptedDut:
    """Answers the DUT session's calls; ``fail`` names a method that raises a DutCommandError.
    ``established``: the connections its table shows after the run (all of them by default)."""

    where = "root@dut.example:22"

    def __init__(self, fail: str | None = None, established: int | None = None, *,
                 established_later: int | None = None, established_timeout: int = 432000,
                 states: list[str] | None = None):
        self.fail = fail
        self.established = established
        self.established_later = established_later  # what a second verify (after expect.hold) shows
        self.established_timeout = established_timeout
        self.states = states or []  # the state of every entry, per verify call (default ESTABLISHED)
        self.polls = 0
        self.calls: list[str] = []
        self.closed = False

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail == name:
            raise DutCommandError(f"injected DUT fault in {name}")

    def health(self) -> Health:
        self._call("health")
        return Health(count=10, max=262144, buckets=262144, tcp_loose=0, syn_sent_timeout=120,
                      syn_recv_timeout=60, established_timeout=self.established_timeout, timestamp=0,
                      counters={"invalid": 0, "drop": 0})

    def clear(self, servers, mode: str, *, also=None) -> int:
        self._call("clear")
        return 0

    def prove_fresh_start(self, expected, clear: str, *, timestamps: bool) -> dict:
        self._call("prove_fresh_start")
        return {"proof": "scripted", "entries_before": 0, "timestamps": False, "started_at": 0.0}

    def count(self) -> int:
        return 10

    def count_test_space(self, servers, state=None) -> int:
        self.polls += 1  # ESTABLISHED entries during a tear-down: all at the first poll, then none
        return 200 if self.polls == 1 else 0

    def verify(self, expected, *, fresh=None, timeout=None, track_states=False):
        k = self.calls.count("verify")
        state = self.states[k] if k < len(self.states) else "ESTABLISHED"
        later = k > 0 and self.established_later is not None
        self._call("verify")
        n = expected.space.total if self.established is None else self.established
        if later:
            n = self.established_later
        lines = []
        for i in range(n):
            ip, port = expected.space.client_of(i)
            c = ipaddress.IPv4Address(ip)
            lines.append(f"tcp      6 431999 {state} src={c} dst={expected.server_ip} sport={port} "
                         f"dport={expected.space.server_port} src={expected.server_ip} dst={c} "
                         f"sport={expected.space.server_port} dport={port} [ASSURED] mark=0 use=1\n")
        return judge_text(expected, "".join(lines), track_states=track_states), {"seconds": 0.01}

    def reconnect(self) -> None:
        self._call("reconnect")

    def close(self) -> None:
        self.closed = True
