"""What the phases report: what each port sent (:class:`PortReport`, :class:`Traffic`, filled by
the Sender for the handshake or a tear-down), the hold's recheck and the tear-down (their
figures are defined in docs/figures.md). The phases fill them; the run's result holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ostinato_tcp.domain.streams import DATA_BYTES
from ostinato_tcp.ground.measure import Interval, Rate, Span

if TYPE_CHECKING:
    from ostinato_tcp.domain.carry import CarryVerdict
    from ostinato_tcp.run.batches import BatchReport
    from ostinato_tcp.domain.facts import Health
    from ostinato_tcp.domain.verdict import Verdict

@dataclass
class PortReport:
    """What one port did. Packets are the run's TCP frames (the devices' ARP is counted apart)."""

    name: str
    drone: str
    expected_packets: int = 0  # TCP frames the plan sends
    sent_packets: int = 0  # TCP frames the port sent
    other_frames: int = 0  # frames of the emulated devices (ARP) during the run
    frames_exact: bool = True  # False: frames of other sizes too; sent_packets is an estimate
    counted_by: str = "counters"  # "counters" (tx frames and bytes) or "capture" (every frame seen by Drone's capture)
    captured_packets: int | None = None  # the run's frames Drone's captures saw (None: not every batch captured)
    frame_sizes: str = ""  # the counters' frames and bytes, for the warning of an estimate
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
class Traffic:
    """What the ports sent, as the Sender records it: the run's handshake, or a tear-down's legs.
    ``timings`` and ``warnings`` are the owner's (the run shares its own)."""

    ports: dict[str, PortReport] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)  # measured A->B start offsets
    syn_phase: Span = field(default_factory=Span)  # time the first leg's phases took
    handshake: Span = field(default_factory=Span)  # first packet to last, per batch, summed
    sent_order: list = field(default_factory=list)  # measure.SentOrder of each pipelined batch timed by capture
    timed_by_capture: bool = False  # the send times come from Drone's capture (else its transmit state)
    send_window: Interval | None = None  # the handshake's first start to last end, on the host's monotonic clock
    last_leg_began: float | None = None  # monotonic: the first batch's last leg (the ACKs) began, at the earliest
    batches: "list[BatchReport]" = field(default_factory=list)  # each batch as sent
    order_marks: bytearray | None = None  # per connection: how its packets' order is known (measure.IN_ORDER ...)
    captured: dict[str, int] = field(default_factory=dict)  # per port: the run's frames Drone's captures saw
    uncaptured_batches: int = 0  # batches sent without a capture (their frames are known by the counters only)

    @property
    def ports_short(self) -> list[str]:
        """Ports that sent fewer TCP frames than the plan said."""
        return [side for side, p in self.ports.items() if p.shortfall]


END_STATES = {"rst": ("CLOSE",), "fin": ("TIME_WAIT",)}


@dataclass
class HoldReport:
    """What the hold did and what the recheck found."""

    requested: float  # expect.hold, seconds
    keepalive: float | None  # traffic.keepalive, seconds (None: idle)
    held: float = 0.0  # measured: end of the verdict's dump to the start of the recheck's dump
    keepalive_rounds: int = 0  # times port A sent every connection's ACK again
    keepalive_packets: int = 0  # ACKs those rounds sent (Drone's counters)
    longest_idle: float = 0.0  # measured: the longest time between two ACKs of the first connections
    verdict: "Verdict | None" = None
    health: "Health | None" = None
    dump: dict = field(default_factory=dict)
    diagnosis: list[str] = field(default_factory=list)
    skipped: str | None = None  # why there was no hold (the verdict had failed)

    @property
    def passed(self) -> bool:
        return self.verdict is not None and self.verdict.passed

    def to_dict(self) -> dict:
        v = self.verdict
        return {"requested_seconds": self.requested, "keepalive_seconds": self.keepalive,
                "held_seconds": round(self.held, 3), "keepalive_rounds": self.keepalive_rounds,
                "keepalive_packets": self.keepalive_packets, "longest_idle_seconds": round(self.longest_idle, 3),
                "skipped": self.skipped,
                "passed": self.passed if not self.skipped else None,
                "established_assured": v.established_assured if v else None,
                "categories": v.counts if v else None, "states": v.states if v else None,
                "established_timeout": self.health.established_timeout if self.health else None,
                "dump_seconds": self.dump.get("seconds"), "diagnosis": self.diagnosis}


@dataclass
class Poll:
    start: float
    end: float
    established: int


def retire_rate(polls: list[Poll]) -> Rate | None:
    """Entries that left ESTABLISHED over the time they took. The first drop happened after the
    last poll that saw the first count began and before the next one ended; the last drop
    after the poll before the final count began and before the first that saw it ended."""
    if len(polls) < 2:
        return None
    c0, final = polls[0].established, polls[-1].established
    if c0 <= final:
        return None
    a = 0  # the last poll of the first run of counts equal to the first
    while polls[a + 1].established == c0:
        a += 1
    b = next(i for i in range(a + 1, len(polls)) if polls[i].established == final)
    longest = polls[b].end - polls[a].start
    shortest = max(0.0, polls[b - 1].start - polls[a + 1].end) if b - 1 >= a + 1 else 0.0
    return Rate(c0 - final, (longest + shortest) / 2, (longest - shortest) / 2)


@dataclass
class TeardownReport:
    mode: str  # rst | fin
    traffic: Traffic | None = None  # what the ports sent for the tear-down: counts, spans, timings
    verdict: "Verdict | None" = None
    health_before: "Health | None" = None
    health_after: "Health | None" = None
    dump: dict = field(default_factory=dict)
    closed: int = 0  # connections whose entry is in the end state or gone
    polls: list[Poll] = field(default_factory=list)
    poll_error: str | None = None
    diagnosis: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def end_states(self) -> tuple[str, ...]:
        return END_STATES[self.mode]

    @property
    def passed(self) -> bool:
        return (self.verdict is not None and self.closed == self.verdict.expected
                and not (self.traffic and self.traffic.ports_short))

    @property
    def offered_rate(self) -> Rate | None:
        """First-leg packets (RSTs or FINs) sent per second of that leg's phase."""
        t = self.traffic
        if t is None or "a" not in t.ports:
            return None
        first = t.ports["a"].sent_packets // (2 if self.mode == "fin" else 1)
        return Rate(first, t.syn_phase.seconds, t.syn_phase.bound, t.syn_phase.estimated)

    @property
    def retire_rate(self) -> Rate | None:
        return retire_rate(self.polls)

    @property
    def counter_deltas(self) -> dict[str, int]:
        if self.health_before and self.health_after:
            return self.health_before.deltas(self.health_after)
        return {}

    def to_dict(self) -> dict:
        v, t = self.verdict, self.traffic
        offered, retire = self.offered_rate, self.retire_rate
        return {"mode": self.mode, "skipped": self.skipped, "passed": self.passed if not self.skipped else None,
                "end_states": list(self.end_states), "closed": self.closed,
                "states": v.states if v else None, "gone": v.counts["missing"] if v else None,
                "offered_teardown_rate": offered.to_dict() if offered else None,
                "dut_retire_rate": retire.to_dict() if retire else None,
                "established_polls": len(self.polls), "poll_error": self.poll_error,
                "ports": {side: {"sent_packets": p.sent_packets, "expected_packets": p.expected_packets,
                                 "lagged": p.lagged} for side, p in (t.ports.items() if t else [])},
                "timings": {k: round(x, 4) for k, x in t.timings.items()} if t else {},
                "counter_deltas": self.counter_deltas, "dump_seconds": self.dump.get("seconds"),
                "diagnosis": self.diagnosis}


@dataclass
class CarryReport:
    """The traffic proof (``expect.proof: [table, traffic]``): what the ports sent and what crossed."""

    traffic: Traffic | None = None  # the data segments as the ports sent them: counts, spans, build and send time
    verdict: "CarryVerdict | None" = None
    capture_bytes: dict[str, int] = field(default_factory=dict)  # each port's capture as Drone handed it over
    read_seconds: float = 0.0  # reading both captures and judging every connection
    diagnosis: list[str] = field(default_factory=list)
    skipped: str | None = None
    lossy: str = ""  # why the captures cannot be complete (a port's counters saw more than its capture)

    @property
    def passed(self) -> bool:
        return self.verdict is not None and self.verdict.passed

    @property
    def unsent(self) -> int:
        """Connections not carried both ways whose every missing way's segment never left its port:
        the traffic's, not the DUT's (a segment that left and did not cross, or arrived changed, is
        the DUT's)."""
        v = self.verdict
        if v is None:
            return 0
        return sum(1 for c, s in zip(v.crossed, v.sent) if c != 3 and not (3 & ~c) & s)

    def to_dict(self) -> dict:
        t = self.traffic
        out = {"skipped": self.skipped, "passed": self.passed if not self.skipped else None,
               "segment_bytes": DATA_BYTES, "unsent": self.unsent, "captures_incomplete": self.lossy or None,
               "capture_bytes": dict(self.capture_bytes),
               "read_seconds": round(self.read_seconds, 3), "diagnosis": list(self.diagnosis),
               "build_seconds": round(t.timings.get("build", 0.0), 3) if t else None,
               "send_seconds": round(t.timings.get("send", 0.0), 3) if t else None}
        out.update(self.verdict.to_dict() if self.verdict else {})
        return out
