"""What a run produces: what its ports sent (:class:`Traffic`, which a tear-down fills too) and
its result (a fault is data here, not a lost exception). The hooks a run calls are in
:mod:`.events`, the hold's and tear-down's reports in :mod:`.reports`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ostinato_tcp.errors import EXIT_FAILED, EXIT_INCONCLUSIVE, EXIT_INFRA, EXIT_OK, OstinatoTcpError
from ostinato_tcp.ground.measure import Rate, peak_memory_mb

from ostinato_tcp.run.events import RunEvents
from ostinato_tcp.run.outcome import Outcome, decide
from ostinato_tcp.run.reports import PortReport, Traffic

if TYPE_CHECKING:
    from ostinato_tcp.domain.facts import Health
    from ostinato_tcp.domain.plan import Plan
    from ostinato_tcp.domain.verdict import Expected, Verdict
    from ostinato_tcp.run.reports import CarryReport, HoldReport, TeardownReport
    from ostinato_tcp.scenario import Scenario

__all__ = ["PortReport", "RunEvents", "RunResult", "Traffic"]


@dataclass
class RunResult:
    scenario: "Scenario"
    plan: "Plan | None" = None
    verdict: "Verdict | None" = None
    expected: "Expected | None" = None
    health_before: "Health | None" = None
    health_after: "Health | None" = None
    timings: dict[str, float] = field(default_factory=dict)
    diagnosis: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dump: dict = field(default_factory=dict)
    drone_versions: dict[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    freshness: dict = field(default_factory=dict)  # how the run proved its entries are its own
    build_checks: list[dict] = field(default_factory=list)  # Drone's build per Drone: form, cost, probe
    gateway_changes: list[str] = field(default_factory=list)  # a gateway MAC that changed during the run
    entries_after: str = ""  # what became of the test's entries on the DUT after the verdict
    entries_removed: int | None = None  # how many of them the clear after the verdict deleted
    peak_count: int | None = None  # the DUT's largest nf_conntrack_count polled during the send
    delete_rate: Rate | None = None  # the DUT deleting them: entries per second of 'conntrack -D'
    hold: "HoldReport | None" = None  # expect.hold: the recheck after the hold
    teardown: "TeardownReport | None" = None  # traffic.teardown: the close and each connection's state after it
    carry: "CarryReport | None" = None  # expect.proof traffic: the data segments each way and what crossed
    pairs: "list[RunResult]" = field(default_factory=list)  # a run over several port pairs: each pair's result
    aggregate_rate: Rate | None = None  # several pairs: all connections / the union of their send windows
    peak_memory_mb: float | None = None  # the tool's peak resident memory (this process) at the end of the run
    decision: Outcome | None = None  # the outcome, decided once the run is over (ostinato_tcp.run.outcome)
    error: str | None = None  # why the run stopped before a verdict (a fault, a signal)
    exception: BaseException | None = field(default=None, repr=False)
    traffic: Traffic = field(default_factory=Traffic)  # what the ports sent (the Sender fills it)

    def __post_init__(self) -> None:
        self.traffic.timings, self.traffic.warnings = self.timings, self.warnings  # the run's own

    # what the ports sent, read through the result
    ports = property(lambda self: self.traffic.ports)
    syn_phase = property(lambda self: self.traffic.syn_phase)
    handshake = property(lambda self: self.traffic.handshake)
    delays = property(lambda self: self.traffic.delays)
    sent_order = property(lambda self: self.traffic.sent_order)
    timed_by_capture = property(lambda self: self.traffic.timed_by_capture)
    send_window = property(lambda self: self.traffic.send_window)
    batches = property(lambda self: self.traffic.batches)
    order_marks = property(lambda self: self.traffic.order_marks)

    @property
    def syns_sent(self) -> int:
        if self.pairs:
            return sum(p.syns_sent for p in self.pairs)
        a = self.ports.get("a")
        return a.sent_packets // 2 if a else 0

    @property
    def offered_connection_rate(self) -> Rate:
        """SYNs sent per second of the SYN phase (RFC 9693's offered load, in connections)."""
        return Rate(self.syns_sent, self.syn_phase.seconds, self.syn_phase.bound, self.syn_phase.estimated)

    @property
    def end_to_end_rate(self) -> Rate:
        """Connections per second from the first SYN to the last ACK."""
        return Rate(self.scenario.connections.count, self.handshake.seconds, self.handshake.bound)

    @property
    def ports_short(self) -> list[str]:
        """Ports that sent fewer TCP frames than the plan said."""
        return self.traffic.ports_short

    @property
    def passed(self) -> bool:
        """Every expected connection ESTABLISHED+ASSURED by this run, every port sent what the
        plan said (a DUT table cannot pass a run whose traffic did not go out), and with
        ``expect.hold`` every connection still so after the hold; with ``traffic.teardown``
        every connection closed (its entry in the end state, or gone); with the traffic proof, every
        connection's data segments crossed the DUT both ways. Over several port pairs: every pair passed."""
        if self.pairs:
            return self.error is None and all(p.passed for p in self.pairs)
        if self.by_traffic_only:  # dut.kind none: no table; the traffic proof is the verdict
            return (self.error is None and not self.ports_short and self.carry is not None
                    and self.carry.verdict is not None and self.carry.passed)
        return (self.error is None and self.verdict is not None and self.verdict.passed
                and not self.ports_short and (self.hold is None or bool(self.hold.skipped) or self.hold.passed)
                and (self.teardown is None or bool(self.teardown.skipped) or self.teardown.passed)
                and (self.carry is None or self.carry.passed))

    @property
    def by_traffic_only(self) -> bool:
        """The run proves by the traffic alone (``expect.proof: [traffic]``, a DUT that is not read)."""
        return "table" not in self.scenario.expect.proof

    def close_timings(self) -> None:
        """``timings.overhead``: everything but Drone's build, the send, the DUT's dump, the traffic
        proof, the hold and the tear-down (docs/figures.md)."""
        t = self.timings
        t["overhead"] = t["total"] - sum(t.get(k, 0.0) for k in ("build", "send", "dump", "carry", "hold", "teardown"))
        self.peak_memory_mb = peak_memory_mb()

    def decide(self) -> Outcome:
        """The outcome from what the run holds now (kept in :attr:`decision`)."""
        self.decision = decide(self)
        return self.decision

    @property
    def outcome(self) -> str:
        """``pass``, ``fail`` (the DUT failed connections the traffic delivered in order),
        ``inconclusive`` (the traffic, not the DUT: :mod:`ostinato_tcp.run.outcome`) or ``error``
        (a fault stopped the run: see ``error``)."""
        if self.error:
            return "error"
        return (self.decision or self.decide()).word

    @property
    def exit_code(self) -> int:
        if self.error:
            code = getattr(self.exception, "exit_code", EXIT_INFRA)
            return code if isinstance(code, int) else EXIT_INFRA
        return {"pass": EXIT_OK, "fail": EXIT_FAILED, "inconclusive": EXIT_INCONCLUSIVE}[self.outcome]

    @property
    def counter_deltas(self) -> dict[str, int]:
        if self.health_before and self.health_after:
            return self.health_before.deltas(self.health_after)
        return {}

    def raise_for_error(self) -> "RunResult":
        """Raise the fault that stopped the run (if any); return the result otherwise."""
        if self.exception is not None:
            raise self.exception
        if self.error:
            raise OstinatoTcpError(self.error)
        return self
