"""What a run produces: its result (a fault is data here, not a lost exception) and the
hooks that progress bars, reports and history attach to."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ostinato_tcp.errors import EXIT_FAILED, EXIT_INCONCLUSIVE, EXIT_INFRA, EXIT_OK, OstinatoTcpError
from ostinato_tcp.ground.measure import Interval, Rate, Span

if TYPE_CHECKING:
    from ostinato_tcp.run.batches import BatchReport
    from ostinato_tcp.run.outcome import Outcome
    from ostinato_tcp.dut import Expected, Health, Verdict
    from ostinato_tcp.run.hold import HoldReport
    from ostinato_tcp.run.teardown import TeardownReport
    from ostinato_tcp.domain.plan import Plan
    from ostinato_tcp.scenario import Scenario
    from ostinato_tcp.domain.tuples import Batch


class RunEvents:
    """Hooks for progress, reports and history. The default does nothing."""

    def phase(self, name: str, detail: str = "") -> None:
        pass

    def planned(self, plan: "Plan") -> None:
        pass

    def batch_started(self, batch: "Batch", total_batches: int) -> None:
        pass

    def progress(self, sent_a: int, sent_b: int, expected_a: int, expected_b: int, ct_count: int | None) -> None:
        pass

    def finished(self, sent_a: int, sent_b: int, expected_a: int, expected_b: int) -> None:
        """All batches sent; Drone's counters have settled."""

    def holding(self, elapsed: float, total: float, keepalive_rounds: int) -> None:
        """During ``expect.hold``: seconds held so far of ``total``."""


@dataclass
class PortReport:
    """What one port did. Packets are the run's TCP frames (the devices' ARP is counted apart)."""

    name: str
    drone: str
    expected_packets: int = 0  # TCP frames the plan sends
    sent_packets: int = 0  # TCP frames the port sent
    other_frames: int = 0  # frames of the emulated devices (ARP) during the run
    frames_exact: bool = True  # False: frames of other sizes too; sent_packets is an estimate
    transmit: Span = field(default_factory=Span)  # time spent transmitting, summed over its starts
    planned_seconds: float = 0.0
    lagged: bool = False

    @property
    def send_seconds(self) -> float:
        return self.transmit.seconds

    @property
    def packet_rate(self) -> Rate:
        return Rate(self.sent_packets, self.transmit.seconds, self.transmit.bound)

    @property
    def shortfall(self) -> int:
        """TCP frames the plan said and the port did not send (0 when it sent them all)."""
        sent = self.sent_packets if self.frames_exact else self.sent_packets + self.other_frames
        return max(0, self.expected_packets - sent)


@dataclass
class RunResult:
    scenario: "Scenario"
    plan: "Plan | None" = None
    verdict: "Verdict | None" = None
    expected: "Expected | None" = None
    health_before: "Health | None" = None
    health_after: "Health | None" = None
    timings: dict[str, float] = field(default_factory=dict)
    ports: dict[str, PortReport] = field(default_factory=dict)
    diagnosis: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dump: dict = field(default_factory=dict)
    drone_versions: dict[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    delays: list[float] = field(default_factory=list)  # measured A->B start offsets
    syn_phase: Span = field(default_factory=Span)  # time the SYN phases took
    handshake: Span = field(default_factory=Span)  # first SYN to last ACK, per batch, summed
    freshness: dict = field(default_factory=dict)  # how the run proved its entries are its own
    build_checks: list[dict] = field(default_factory=list)  # Drone's build per Drone: form, cost, probe
    gateway_changes: list[str] = field(default_factory=list)  # a gateway MAC that changed during the run
    sent_order: list = field(default_factory=list)  # measure.SentOrder of each pipelined batch timed by capture
    timed_by_capture: bool = False  # the send times come from Drone's capture (else its transmit state)
    entries_after: str = ""  # what became of the test's entries on the DUT after the verdict
    entries_removed: int | None = None  # how many of them the clear after the verdict deleted
    peak_count: int | None = None  # the DUT's largest nf_conntrack_count polled during the send
    delete_rate: Rate | None = None  # the DUT deleting them: entries per second of 'conntrack -D'
    hold: "HoldReport | None" = None  # expect.hold: the recheck after the hold
    teardown: "TeardownReport | None" = None  # traffic.teardown: the close and each connection's state after it
    send_window: Interval | None = None  # the handshake's first start to last end, on the host's monotonic clock
    pairs: "list[RunResult]" = field(default_factory=list)  # a run over several port pairs: each pair's result
    aggregate_rate: Rate | None = None  # several pairs: all connections / the union of their send windows
    batches: "list[BatchReport]" = field(default_factory=list)  # each batch as sent
    order_marks: bytearray | None = None  # per connection: how its packets' order is known (measure.IN_ORDER ...)
    decision: "Outcome | None" = None  # the outcome, decided once the run is over (ostinato_tcp.run.outcome)
    error: str | None = None  # why the run stopped before a verdict (a fault, a signal)
    exception: BaseException | None = field(default=None, repr=False)

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
        return [side for side, p in self.ports.items() if p.shortfall]

    @property
    def passed(self) -> bool:
        """Every expected connection ESTABLISHED+ASSURED by this run, every port sent what the
        plan said (a DUT table cannot pass a run whose traffic did not go out), and with
        ``expect.hold`` every connection still so after the hold; with ``traffic.teardown``
        every connection closed (its entry in the end state, or gone). Over several port pairs:
        every pair passed."""
        if self.pairs:
            return self.error is None and all(p.passed for p in self.pairs)
        return (self.error is None and self.verdict is not None and self.verdict.passed
                and not self.ports_short and (self.hold is None or bool(self.hold.skipped) or self.hold.passed)
                and (self.teardown is None or bool(self.teardown.skipped) or self.teardown.passed))

    def decide(self) -> "Outcome":
        """The outcome from what the run holds now (kept in :attr:`decision`)."""
        from ostinato_tcp.run.outcome import decide

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
