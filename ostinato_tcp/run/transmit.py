"""What the Sender does to Drone's ports: build their programs, start them and measure each one's
transmit, and count what they sent once Drone's counters caught up.

Every start and end is measured (:mod:`ostinato_tcp.ground.measure`): a port's state is
polled more densely the longer it has been sending (every 0.5% of the time so far), so the end
of a send is known within about 0.25% of its length; the start lies between the startTransmit
request and its reply.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from ostinato_tcp.drone.port import DronePort
from ostinato_tcp.errors import DroneRpcError, RunFault
from ostinato_tcp.ground import signals as _signals
from ostinato_tcp.ground.measure import ARP_FRAME_BYTES, NDP_FRAME_BYTES, Interval, split_frames

if TYPE_CHECKING:
    from ostinato_tcp.run.events import RunEvents
    from ostinato_tcp.run.reports import Traffic

POLL_SHARE = 0.005  # poll every 0.5% of the time a port has been sending
POLL_MIN, POLL_MAX = 0.001, 0.1  # seconds
PROGRESS_EVERY = 0.1  # seconds between progress events


def build_ports(ports: list[DronePort], *, per_packet: float, traffic: "Traffic", hint: Callable[[DronePort], str]) -> None:
    """Build the ports' programs; ports on different Drone connections build at the same time
    (Drone runs each connection's requests on a thread of its own). ``hint``: what to check when
    Drone cannot resolve a port's destination MAC."""
    t0 = time.monotonic()

    def one(p: DronePort) -> None:
        packets = sum(s.count for s in p.program if s.enabled)
        try:
            p.build(timeout=max(60.0, 10 * packets * per_packet))
        except DroneRpcError as exc:
            if "resolve" not in str(exc).lower():
                raise
            raise RunFault(f"port {p.name}: Drone could not resolve a destination MAC ({exc}).{hint(p)}") from None

    if len(ports) == 2 and ports[0].drone is not ports[1].drone:
        with ThreadPoolExecutor(2) as pool:
            for f in [pool.submit(one, p) for p in ports]:
                f.result()
    else:
        for p in ports:
            one(p)
    traffic.timings["build"] = traffic.timings.get("build", 0.0) + time.monotonic() - t0


class Transmitter:
    """Starts ports and polls them until each has sent everything. ``start_gate``: called once
    before the first start (several port pairs start together); ``count_poller``: the DUT's count
    for the progress events; ``window``: the transmits widen the traffic's send window (the
    handshake's, not a tear-down's)."""

    def __init__(self, traffic: "Traffic", events: "RunEvents", *, start_gate: Callable[[], None] | None = None,
                 count_poller=None, window: bool = True):
        self.traffic, self.ev = traffic, events
        self.start_gate, self.count_poller, self.window = start_gate, count_poller, window
        self.baseline_tx: dict[str, int] = {}  # each port's tx counter (and frames not the run's) before the run
        self._last_sent: dict[str, int] = {}  # each port's TCP count at its last poll, for progress
        self._next_progress = 0.0

    def run(self, ports: dict[str, DronePort], planned: dict[str, float],
            start_b_after: float | None = None) -> dict[str, Interval]:
        """Start the ports (B ``start_b_after`` seconds after A when given) and poll until each
        has sent everything; returns each port's measured interval."""
        starts: dict[str, tuple[float, float]] = {}
        last_on: dict[str, float] = {}
        done: dict[str, Interval] = {}
        pending_b = start_b_after is not None
        if self.start_gate is not None:
            gate, self.start_gate = self.start_gate, None
            gate()
        for side, p in ports.items():
            if side == "b" and pending_b:
                continue
            starts[side] = p.start()
            last_on[side] = starts[side][1]
        start_b_at = starts["a"][0] + start_b_after if pending_b else None
        limit = max(planned.values(), default=0) * 3 + 30
        t_begin = time.monotonic()
        while True:
            if pending_b and time.monotonic() >= start_b_at:
                starts["b"] = ports["b"].start()
                last_on["b"] = starts["b"][1]
                self.traffic.delays.append(starts["b"][0] - starts["a"][0])
                pending_b = False
            sent = self._last_sent  # a port that is done (or not in this phase) keeps its last count
            for side in starts:
                if side in done:
                    continue
                on, tx, t = ports[side].poll()
                sent[side] = tx - self.baseline_tx.get(side, 0)
                if on:
                    last_on[side] = t
                else:
                    done[side] = Interval(starts[side][0], starts[side][1], last_on[side], t)
            self._progress(sent)
            if not pending_b and len(done) == len(starts):
                if self.window:
                    self._widen_window(done)
                return done
            _signals.checkpoint()
            now = time.monotonic()
            if now - t_begin > limit:
                raise RunFault(f"ports still transmitting {limit:.0f} s after start (planned "
                               f"{max(planned.values()):.1f} s): Drone is far slower than the plan")
            gap = POLL_MAX
            for side in starts:
                if side not in done:
                    # every 0.5% of the time sent so far, and closer together near the planned end
                    elapsed, to_end = now - starts[side][1], abs(starts[side][0] + planned[side] - now)
                    gap = min(gap, max(POLL_MIN, min(POLL_SHARE * elapsed, to_end / 4)))
            if pending_b:
                gap = max(0.0, min(gap, start_b_at - now))
            time.sleep(gap)

    def _widen_window(self, done: dict[str, Interval]) -> None:
        """The handshake's send window on the host's clock: from the first start to the last end."""
        ivs = list(done.values())
        w = self.traffic.send_window
        first = w if w is not None else min(ivs, key=lambda iv: iv.start_lo)
        last = max(ivs + ([w] if w is not None else []), key=lambda iv: iv.end_hi)
        self.traffic.send_window = Interval(first.start_lo, first.start_hi, last.end_lo, last.end_hi)

    def _progress(self, sent: dict[str, int]) -> None:
        now = time.monotonic()
        if now < self._next_progress:
            return
        self._next_progress = now + PROGRESS_EVERY
        ports = self.traffic.ports
        self.ev.progress(sent.get("a", 0), sent.get("b", 0), ports["a"].expected_packets, ports["b"].expected_packets,
                         self.count_poller.count if self.count_poller else None)


def settle_counters(traffic: "Traffic", ports: dict[str, DronePort], baselines: dict, not_ours: dict[str, int], *,
                    frame_length: int, family: int) -> None:
    """The run's frames per port, once Drone's counters caught up (it refreshes them about once a
    second), split into TCP and ARP (NDP), then :func:`count_by_capture`; ``not_ours``: frames of
    the run's size each port sent since its baseline that are not the run's (the probe's)."""
    for side, p in ports.items():
        rep, base = traffic.ports[side], baselines[side]
        deadline, last, since = time.monotonic() + 3.0, None, time.monotonic()
        while True:
            c = p.counters() - base
            frames = split_frames(c.tx_frames, c.tx_bytes, frame_length,
                                  NDP_FRAME_BYTES if family == 6 else ARP_FRAME_BYTES)
            frames = replace(frames, tcp=frames.tcp - not_ours.get(side, 0))
            now = time.monotonic()
            if (frames.tcp, frames.other) != last:
                last, since = (frames.tcp, frames.other), now
            if frames.tcp >= rep.expected_packets or now - since >= 1.2 or now > deadline:
                break
            time.sleep(0.1)
        rep.sent_packets, rep.other_frames, rep.frames_exact = frames.tcp, frames.other, frames.exact
        rep.counted_by = "counters"
        rep.frame_sizes = f"{c.tx_frames} frames, {c.tx_bytes} bytes"


def count_by_capture(traffic: "Traffic", names: dict[str, str], events: "RunEvents") -> None:
    """Once every batch's capture is read: where frames of a third size (the host's own, e.g. IPv6
    router solicitations) made the counters' split an estimate and Drone's captures saw every frame
    of the run's program, the port's count is exact by the capture."""
    for side, rep in traffic.ports.items():
        rep.captured_packets = traffic.captured.get(side) if not traffic.uncaptured_batches else None
        total = rep.sent_packets + rep.other_frames
        if not rep.frames_exact and rep.captured_packets == rep.expected_packets and total >= rep.expected_packets:
            rep.sent_packets, rep.other_frames, rep.frames_exact = rep.expected_packets, total - rep.expected_packets, True
            rep.counted_by = "capture"
        if not rep.frames_exact:
            traffic.warnings.append(
                f"port {side.upper()} ({names[side]}) sent frames of other sizes than the run's TCP frames and ARP "
                f"({rep.frame_sizes}), and Drone's captures did not see every frame of the run: its TCP frame "
                f"count {rep.sent_packets} is an estimate")
    a, b = traffic.ports["a"], traffic.ports["b"]
    events.finished(a.sent_packets, b.sent_packets, a.expected_packets, b.expected_packets)
