"""Measured figures: send intervals with their bounds, rates, and the run's TCP frames.

Every rate the tool prints or records is one of three, defined here once (the
words of RFC 9693, docs/figures.md):

* **port packet rate**: TCP frames a port sent / the time it transmitted them;
* **offered connection rate**: SYNs sent / the time the SYN phase took;
* **end-to-end connection rate**: connections / the time from the first SYN to the
  last ACK (builds between batches excluded; phases and their gaps included).

Times come from Drone's transmit state: the start lies between the startTransmit
request and its reply (Drone answers only once its transmit thread runs, so the reply
can come 10 ms after the first packet), the end between the last poll that saw the
port transmitting and the first that saw it idle (polled densely near the end). An
:class:`Interval` keeps both windows; its ``bound`` is the half-width of each,
added, so the true duration lies within ``seconds ± bound``.

Frames: Drone's port counters count every frame, the emulated devices' ARP too.
ARP frames are 42 bytes and the run's TCP frames ``frame_length - 4`` (Drone's frame
length includes the FCS), so the bytes tell the two apart exactly:
``tcp = (bytes - 42 * frames) / (L - 42)``.
"""

from __future__ import annotations

import math
import time
from array import array
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from ostinato_tcp.ground.pcap import pcap_tcp

ARP_FRAME_BYTES = 42  # Ethernet + ARP, as Drone's emulated devices send it (no padding on the host side)
NDP_FRAME_BYTES = 86  # Ethernet + IPv6 + a neighbour solicitation or advertisement with its link-layer option
FCS_BYTES = 4


def peak_memory_mb() -> float:
    """This process's peak resident memory so far, MB (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def stopwatch(store: dict[str, float], key: str):
    """Add the seconds the block takes to ``store[key]``."""
    t0 = time.monotonic()
    try:
        yield
    finally:
        store[key] = store.get(key, 0.0) + time.monotonic() - t0


@dataclass(frozen=True)
class Interval:
    """A transmit interval on the monotonic clock: start within [start_lo, start_hi],
    end within [end_lo, end_hi]."""

    start_lo: float
    start_hi: float
    end_lo: float
    end_hi: float

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end_lo + self.end_hi) / 2 - (self.start_lo + self.start_hi) / 2)

    @property
    def bound(self) -> float:
        """Half-width of the uncertainty of :attr:`seconds`."""
        return (self.end_hi - self.end_lo) / 2 + (self.start_hi - self.start_lo) / 2

    def share(self, part: int, whole: int) -> "Span":
        """An estimate of the time the first ``part`` of ``whole`` frames took, as if one transmit
        kept one pace (it need not: another port sending beside it slows a phase): ``estimated``."""
        f = part / whole if whole else 0.0
        return Span(self.seconds * f, self.bound * f, estimated=True)


@dataclass(frozen=True)
class Span:
    """Several intervals measured one after another, summed (e.g. a run's batches)."""

    seconds: float = 0.0
    bound: float = 0.0
    estimated: bool = False  # a share of a measured time, not a time measured apart: no bound holds

    def __add__(self, other: "Span | Interval") -> "Span":
        return Span(self.seconds + other.seconds, self.bound + other.bound,
                    self.estimated or getattr(other, "estimated", False))


def span_of(first: Interval, last: Interval) -> Interval:
    """From the start of ``first`` to the end of ``last``."""
    return Interval(first.start_lo, first.start_hi, last.end_lo, last.end_hi)


@dataclass(frozen=True)
class Rate:
    """``count`` events over ``seconds`` measured within ``± bound`` seconds."""

    count: int
    seconds: float
    bound: float
    estimated: bool = False  # the time was not measured apart: the value is an estimate, with no bound

    @property
    def value(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def bound_pct(self) -> float:
        """The rate's relative uncertainty, in percent (the larger side)."""
        if self.seconds <= 0 or self.estimated:
            return float("inf")
        if self.bound >= self.seconds:
            return float("inf")
        return 100.0 * self.bound / (self.seconds - self.bound)

    def to_dict(self) -> dict:
        pct = self.bound_pct
        return {"per_second": round(self.value, 1), "bound_pct": None if pct == float("inf") else round(pct, 3),
                "count": self.count, "seconds": round(self.seconds, 6), "bound_seconds": round(self.bound, 6),
                "estimated": self.estimated}

    def text(self) -> str:
        """e.g. ``375,292/s ±1.2% over 1.07 s``."""
        pct = self.bound_pct
        if self.estimated:
            return f"~{self.value:,.0f}/s over ~{self.seconds:.3g} s (estimated: not timed apart)"
        b = "±?" if pct == float("inf") else f"±{pct:.1f}%" if pct >= 0.1 else f"±{pct:.2f}%"
        return f"{self.value:,.0f}/s {b} over {self.seconds:.3g} s"


@dataclass(frozen=True)
class Frames:
    """What a port sent during the run, split into the run's TCP frames and the rest."""

    tcp: int
    other: int
    exact: bool  # False: frames of another size than ARP were sent too; tcp is an estimate

    @property
    def total(self) -> int:
        return self.tcp + self.other


def split_frames(frames: int, nbytes: int, frame_length: int, other_bytes: int = ARP_FRAME_BYTES) -> Frames:
    """Split a counter delta into TCP frames of ``frame_length`` (with FCS) and the emulated
    devices' frames of ``other_bytes`` (ARP; IPv6: neighbour discovery, NDP_FRAME_BYTES)."""
    tcp_len = frame_length - FCS_BYTES
    if frames <= 0:
        return Frames(0, 0, frames == 0 and nbytes == 0)
    num = nbytes - other_bytes * frames
    tcp, rem = divmod(num, tcp_len - other_bytes)
    if rem == 0 and 0 <= tcp <= frames:
        return Frames(tcp, frames - tcp, True)
    est = min(frames, max(0, round(num / (tcp_len - other_bytes))))
    return Frames(est, frames - est, False)


# ---------------------------------------------------------------------------- timing from Drone's capture
# Two capture timestamps of one kernel clock, each within 20 us of the frame's time on the wire
# (the capture sees a sent frame as it is queued; measured against a capture at the DUT: < 5 us)
CAPTURE_TIMESTAMP_BOUND = 40e-6


class ProgramIndex:
    """Which packet of a port's program a captured frame is: its place in the order Drone sends."""

    def __init__(self, program):
        self.by_key: dict[tuple, list[tuple[int, int, int, int]]] = {}
        offset = 0
        for s in program:
            if s.enabled and s.count and s.client_ip_count == 1:  # (an interleaved stream is not indexed)
                src, dst, _, _ = s.addresses
                self.by_key.setdefault((src, dst, s.flags, s.to_server), []).append(
                    (s.client_port, s.client_port_step, s.count, offset))
            offset += s.count
        self.total = offset

    def index(self, src: int, dst: int, sport: int, dport: int, flags: int) -> int:
        for to_server in (True, False):
            runs = self.by_key.get((src, dst, flags, to_server))
            if not runs:
                continue
            port = sport if to_server else dport
            for first, step, count, offset in runs:
                k, rem = divmod(port - first, step)
                if not rem and 0 <= k < count:
                    return offset + k
        return -1


def packet_times(pcap: bytes, program) -> array:
    """The capture time of each packet of a port's program, by its place in the program
    (NaN for a packet the capture did not see)."""
    index = ProgramIndex(program)
    times = array("d", [math.nan]) * index.total
    for ts, src, dst, sport, dport, flags in pcap_tcp(pcap):
        k = index.index(src, dst, sport, dport, flags)
        if k >= 0 and math.isnan(times[k]):
            times[k] = ts
    return times


def capture_spans(times: array, parts: dict[str, range]) -> dict[str, "Span"]:
    """For each named part of a program (a range of its packet indexes), the time its packets
    took on the wire by Drone's own capture (``times`` from :func:`packet_times`): the pace
    between the first and the last captured packet of the part, times the part's packets."""
    out = {}
    for name, part in parts.items():
        seen = [k for k in (_first_seen(times, part), _first_seen(times, part[::-1])) if k is not None]
        if len(seen) == 2 and seen[1] > seen[0]:
            k0, k1 = seen
            per_packet = (times[k1] - times[k0]) / (k1 - k0)
            out[name] = Span(per_packet * len(part), CAPTURE_TIMESTAMP_BOUND * len(part) / (k1 - k0))
    return out


def _first_seen(times: array, indexes: range) -> int | None:
    for k in indexes:
        if not math.isnan(times[k]):
            return k
    return None


def clock_offset(a_tx: array, a_seen_at_b: array, b_tx: array, b_seen_at_a: array) -> tuple[float, float] | None:
    """Bounds (lo, hi) on B's capture clock minus A's, from frames each port's capture saw both
    leave one port and arrive at the other through the DUT: a frame A sent at ``a`` (A's clock)
    reaches B at ``b = a + offset + latency`` (B's clock), so ``offset <= b - a``; a frame B sent
    at ``b`` reaches A at ``a = b - offset + latency``, so ``offset >= b - a``. The width is the
    DUT's smallest forwarding latency each way. None when either direction matched no frame
    (NAT rewrites the tuples)."""
    hi = min((y - x for x, y in zip(a_tx, a_seen_at_b) if not (math.isnan(x) or math.isnan(y))), default=None)
    lo = max((x - y for x, y in zip(b_tx, b_seen_at_a) if not (math.isnan(x) or math.isnan(y))), default=None)
    if hi is None or lo is None:
        return None
    return lo, hi


@dataclass
class SentOrder:
    """The order one pipelined batch was sent in, per connection, by the two ports' captures:
    the SYN -> SYN-ACK and SYN-ACK -> ACK margins as sent (planned: the delay, and the window
    less the delay). A negative margin: a packet went out before the one it must follow."""

    batch: int
    connections: int  # of the batch
    timed: int  # connections whose three packets were all captured
    min_syn_to_synack: float | None = None
    at_syn_to_synack: int | None = None  # batch-relative connection of that minimum
    min_synack_to_ack: float | None = None
    at_synack_to_ack: int | None = None
    synack_first: list[tuple[int, int, float]] = field(default_factory=list)  # blocks (first, last, worst s)
    ack_first: list[tuple[int, int, float]] = field(default_factory=list)
    same_clock: bool = True  # both ports' captures on one clock (one Drone host, or the offset measured)
    clock_offset: float | None = None  # two Drone hosts: B's clock minus A's as measured from the captures
    clock_bound: float | None = None  # ... known within this (seconds, either way)

    def to_dict(self) -> dict:
        return asdict(self)


# A packet that left less than this after the one it must follow may still be overtaken on the
# way (two links, two receive queues): its connection counts as sent out of order
ORDER_GUARD = 0.001
IN_ORDER, ORDER_UNKNOWN, OUT_OF_ORDER = 1, 0, 2  # per-connection order marks (RunResult.order_marks)
# a gap of the connection's reached the DUT's timeout though the plan's did not (a port fell behind):
# whatever state it failed in (none, once its entry expired), the failure is the traffic's
LATE = 3
NO_LIMIT = (math.inf, math.inf)


def mark_late(marks: bytearray, offset: int, m: int, legs: tuple[Interval, Interval, Interval],
              limits: tuple[float, float], kept_pace: tuple[bool, bool, bool] = (True, True, True)) -> None:
    """Mark LATE each connection ``offset + k`` of a batch of ``m`` whose SYN -> SYN-ACK gap may
    have reached ``limits[0]`` or whose SYN-ACK -> ACK gap ``limits[1]``, its packets placed by
    the legs' transmit intervals (SYN, SYN-ACK, ACK): at one pace through a leg that kept its
    plan's pace, anywhere in the interval of one that did not (a port that stalls may burst to
    catch up). The latest each gap may be is then linear in k, so the late connections of each
    gap are a prefix or a suffix of the batch."""
    def latest(iv: Interval, paced: bool) -> tuple[float, float]:  # packet k at most: a + (b - a) k / (m - 1)
        return (iv.start_hi, iv.end_hi) if paced else (iv.end_hi, iv.end_hi)

    def earliest(iv: Interval, paced: bool) -> tuple[float, float]:
        return (iv.start_lo, iv.end_lo) if paced else (iv.start_lo, iv.start_lo)

    for i, limit in enumerate(limits):
        if math.isinf(limit) or m <= 0:
            continue
        (l0, l1), (e0, e1) = latest(legs[i + 1], kept_pace[i + 1]), earliest(legs[i], kept_pace[i])
        g0, g1 = l0 - e0, l1 - e1  # the latest the first connection's gap may be, and the last one's
        if g0 < limit and g1 < limit:
            continue
        if g0 >= limit and g1 >= limit:
            lo, hi = 0, m
        else:
            k = (limit - g0) * (m - 1) / (g1 - g0) if m > 1 else 0.0  # where the gap reaches the limit
            lo, hi = (math.ceil(k), m) if g1 > g0 else (0, math.floor(k) + 1)
        marks[offset + lo:offset + hi] = bytes([LATE]) * (hi - lo)


def mark_late_timed(marks: bytearray, offset: int, a_times: array, b_times: array, m: int,
                    limits: tuple[float, float]) -> None:
    """A phased batch's LATE marks from Drone's captures (one clock): each connection ``offset + k``
    they timed whole is LATE when a gap reached its limit, else it leaves LATE (phases keep the
    order by themselves); one not timed keeps the mark its ports' intervals gave it."""
    for k in range(m):
        t_syn, t_sa, t_ack = a_times[k], b_times[k], a_times[m + k]
        if t_syn != t_syn or t_sa != t_sa or t_ack != t_ack:
            continue
        if t_sa - t_syn >= limits[0] or t_ack - t_sa >= limits[1]:
            marks[offset + k] = LATE
        elif marks[offset + k] == LATE:
            marks[offset + k] = IN_ORDER


def sent_order(batch: int, a_times: array, b_times: array, m: int, *, same_clock: bool,
               marks: bytearray | None = None, offset: int = 0,
               limits: tuple[float, float] = NO_LIMIT) -> SentOrder:
    """Per-connection margins of a pipelined batch of ``m``: port A's program is m SYNs then m
    ACKs, port B's m SYN-ACKs, connection k at index k (and m + k). With ``marks`` (and both
    ports on one clock), connection ``offset + k`` is marked IN_ORDER, OUT_OF_ORDER (a margin
    below ORDER_GUARD) or LATE (a gap reaching its ``limits``: the DUT's SYN_SENT and SYN_RECV
    timeouts); a connection the captures did not see whole keeps its mark."""
    out = SentOrder(batch=batch, connections=m, timed=0, same_clock=same_clock)
    mark = marks if (marks is not None and same_clock) else None
    neg1: list[tuple[int, float]] = []
    neg2: list[tuple[int, float]] = []
    lo1 = lo2 = math.inf
    for k in range(m):
        t_syn, t_sa, t_ack = a_times[k], b_times[k], a_times[m + k]
        if math.isnan(t_syn) or math.isnan(t_sa) or math.isnan(t_ack):
            continue
        out.timed += 1
        m1, m2 = t_sa - t_syn, t_ack - t_sa
        if mark is not None:
            mark[offset + k] = (LATE if (m1 >= limits[0] or m2 >= limits[1]) else
                                OUT_OF_ORDER if (m1 < ORDER_GUARD or m2 < ORDER_GUARD) else IN_ORDER)
        if m1 < lo1:
            lo1, out.at_syn_to_synack = m1, k
        if m2 < lo2:
            lo2, out.at_synack_to_ack = m2, k
        if m1 < 0:
            neg1.append((k, m1))
        if m2 < 0:
            neg2.append((k, m2))
    if out.timed:
        out.min_syn_to_synack, out.min_synack_to_ack = lo1, lo2
    out.synack_first, out.ack_first = _blocks(neg1), _blocks(neg2)
    return out


def _blocks(neg: list[tuple[int, float]]) -> list[tuple[int, int, float]]:
    """Runs of consecutive connections (first, last, most negative margin), largest first."""
    blocks: list[list] = []
    for k, v in neg:
        if blocks and k == blocks[-1][1] + 1:
            blocks[-1][1], blocks[-1][2] = k, min(blocks[-1][2], v)
        else:
            blocks.append([k, k, v])
    blocks.sort(key=lambda b: b[0] - b[1])
    return [(a, b, round(w, 6)) for a, b, w in blocks[:5]]


def worst_order(orders: list[SentOrder]) -> dict | None:
    """The run's ordering as sent, over its captured pipelined batches: the smallest margins
    and how many connections had a packet sent before the one it must follow."""
    timed = [o for o in orders if o.timed]
    if not timed:
        return None
    a = min(timed, key=lambda o: o.min_syn_to_synack)
    b = min(timed, key=lambda o: o.min_synack_to_ack)
    return {"batches": len(timed), "connections_timed": sum(o.timed for o in timed),
            "min_syn_to_synack": round(a.min_syn_to_synack, 6), "min_synack_to_ack": round(b.min_synack_to_ack, 6),
            "synack_before_syn": sum(last - first + 1 for o in timed for first, last, _ in o.synack_first),
            "ack_before_synack": sum(last - first + 1 for o in timed for first, last, _ in o.ack_first),
            "same_clock": all(o.same_clock for o in timed)}
