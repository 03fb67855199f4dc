"""An in-memory DUT for unit tests, behind the same contract as a real one.

:class:`FakeDut` holds a scripted table: after each verify it shows the expected connections
(all of them, ``established`` of them, or ``established_later`` at a second verify) in the state
``states`` names for that verify (ESTABLISHED by default), each one with its expected reply tuple
and [ASSURED]. It records every operation in :attr:`FakeDut.calls` and raises an injected
:class:`~ostinato_tcp.errors.DutCommandError` from the one ``fail`` names, so the run can be
tested in every phase without root.

It is a test double: a run against it proves the order of calls and the clean-up, never that a
DUT tracked a connection (the lab tests do that against a real conntrack).
"""

from __future__ import annotations

import ipaddress
import time

from ostinato_tcp.domain.facts import Health
from ostinato_tcp.domain.verdict import ParseStats
from ostinato_tcp.dut.contract import DutDriver, EntrySink
from ostinato_tcp.errors import DutCommandError


class FakeDut(DutDriver):
    kind = "fake"

    def __init__(self, fail: str | None = None, established: int | None = None, *,
                 established_later: int | None = None, established_timeout: int = 432000,
                 states: list[str] | None = None, count: int = 10, conntrack_max: int = 262144,
                 tracks: bool = True):
        self.fail = fail
        self.established = established
        self.established_later = established_later  # what a second verify (after expect.hold) shows
        self.established_timeout = established_timeout
        self.states = states or []  # the state of every entry, per verify call (default ESTABLISHED)
        self.table_count, self.conntrack_max = count, conntrack_max
        self.tracks = tracks  # forwarded packets are tracked (the preflight's ICMP echo leaves an entry)
        self.polls = 0
        self.calls: list[str] = []
        self.closed = False
        self._verifies = 0
        self._shown = 0  # connections the last verify showed (the tear-down's polls start from them)

    @property
    def where(self) -> str:
        return "root@dut.example:22"

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail == name:
            raise DutCommandError(f"injected DUT fault in {name}")

    # ------------------------------------------------------------------ the primitives
    def health(self) -> Health:
        self._call("health")
        return Health(count=self.table_count, max=self.conntrack_max, buckets=262144, tcp_loose=0,
                      syn_sent_timeout=120, syn_recv_timeout=60, established_timeout=self.established_timeout,
                      timestamp=0, ip_forward=1, ip6_forward=1, kernel="fake", uid=0, has_conntrack=True,
                      counters={"invalid": 0, "drop": 0}, taken_at=time.time())

    def count(self) -> int:
        return self.table_count

    def clear(self, servers, mode: str, *, also=None) -> int:
        self._call("clear")
        return 0

    def count_space(self, servers, state: str | None = None) -> int:
        if state is None:  # the test's entries now
            return len(getattr(self, "_table", []))
        self.polls += 1  # entries in a state during a tear-down: all at the first poll, then none
        return (self._shown or 200) if self.polls == 1 else 0

    def dump_space(self, servers, sink: EntrySink, *, ages: bool = False, state: str | None = None,
                   size_hint: int = 0, timeout: float | None = None) -> tuple[dict, ParseStats]:
        table = getattr(self, "_table", [])
        sink([entry for entry in table if state is None or entry[0].decode() == state])
        return {"seconds": 0.01}, ParseStats(entries=len(table))

    # ------------------------------------------------------------------ scripted reads
    def prove_fresh_start(self, expected, clear: str, *, timestamps: bool) -> dict:
        self._call("prove_fresh_start")
        return {"proof": "scripted", "entries_before": 0, "timestamps": False, "started_at": 0.0}

    def verify(self, expected, *, fresh=None, timeout=None, track_states=False):
        k = self._verifies
        self._verifies += 1
        state = self.states[k] if k < len(self.states) else "ESTABLISHED"
        self._call("verify")
        n = expected.space.total if self.established is None else self.established
        if k > 0 and self.established_later is not None:
            n = self.established_later
        self._table = [self._entry(expected, i, state) for i in range(n)]
        self._shown = n
        return super().verify(expected, fresh=None, timeout=timeout, track_states=track_states)

    @staticmethod
    def _entry(expected, i: int, state: str) -> tuple:
        ip, port = expected.space.client_of(i)
        c = str(ipaddress.ip_address(ip)).encode()
        s, sport = expected.server_of(i)
        return (state.encode(), c, s.encode(), str(port).encode(), str(sport).encode(), None, s.encode(), c,
                str(sport).encode(), str(port).encode(), b"[ASSURED]")

    def icmp_entries(self, client_ip, server_ip, *, delete: bool = False) -> int:
        self._call("icmp_entries")
        return 1 if self.tracks else 0

    def reconnect(self) -> None:
        self._call("reconnect")

    def close(self) -> None:
        self.closed = True
