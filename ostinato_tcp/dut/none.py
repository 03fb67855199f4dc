"""The ``none`` driver: a DUT the tool may not log into (a vendor appliance, a box of another
team) offers nothing but its ports. Nothing is read or changed on it; the run's verdict rests
on the traffic proof alone (every connection's data segments crossed the box both ways, as
Drone's captures on both ports show), and the reports say "by traffic only".

What the table would have given is then unknown and said so: the plan takes the kernel's
default timeouts (SYN_SENT 120 s, SYN_RECV 60 s) and checks no capacity, and no entry, state or
counter is reported. The segments judged are those Drone captured during this run; what the
DUT still holds from an earlier run is not known. So that a connection an earlier run made on
the same tuples does not carry this run's data, the run draws its own ISNs
(:func:`~ostinato_tcp.run.dut_phases.isns_for_run`, unless the scenario sets them): its
segments are then outside such a connection's window, which a DUT that checks windows drops.
A DUT that checks none could still carry them: the freshness text says so, and each run
should take client ports no earlier run used.
"""

from __future__ import annotations

import time

from ostinato_tcp.domain.facts import Health
from ostinato_tcp.domain.verdict import ParseStats
from ostinato_tcp.dut.contract import DutDriver, EntrySink

FRESHNESS = ("by traffic only: the data segments judged are those Drone captured on both ports during this run, "
             "with sequence numbers from ISNs drawn for it (unless traffic.client_isn/server_isn are set); the DUT "
             "is not read (dut.kind none), so a DUT that checks no TCP window could still carry them over a "
             "connection an earlier run left on the same tuples: give each run client ports no earlier run used "
             "(connections.first_client_port)")


class NoAccessDut(DutDriver):
    """A DUT that is only its ports: every read gives nothing, every change does nothing."""

    kind = "none"
    reads_table = False

    def __init__(self, name: str = "the DUT"):
        self.name = name

    @property
    def where(self) -> str:
        return f"{self.name} (dut.kind none: not read)"

    def health(self) -> Health:
        return Health(taken_at=time.time())

    def count(self) -> int:
        raise NotImplementedError("dut.kind none: the DUT's table is not read")

    def clear(self, servers, mode: str, *, also=None) -> int:
        return 0

    def count_space(self, servers, state: str | None = None) -> int:
        raise NotImplementedError("dut.kind none: the DUT's table is not read")

    def dump_space(self, servers, sink: EntrySink, *, ages: bool = False, state: str | None = None,
                   size_hint: int = 0, timeout: float | None = None) -> tuple[dict, ParseStats]:
        raise NotImplementedError("dut.kind none: the DUT's table is not read")

    def prove_fresh_start(self, expected, clear: str, *, timestamps: bool) -> dict:
        return {"proof": FRESHNESS, "entries_before": None, "unexpected_before": None, "clear": "none",
                "driver": self.kind, "driver_chosen": self.chosen or "dut.kind: none", "timestamps": False,
                "started_at": time.monotonic()}

    def clear_measured(self, servers) -> tuple[int, None]:
        return 0, None
