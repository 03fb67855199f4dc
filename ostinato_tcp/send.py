"""The send phase of a run: each batch's programs, builds and starts, in the plan's order.

Pipelined: port A sends the batch's SYNs then its ACKs; port B starts its SYN-ACKs
``delay`` seconds after A. Phased: SYNs, then SYN-ACKs, then ACKs, each phase
started when the previous one has been sent (NAT learn reads the DUT's SYN_SENT
entries between the first two).

Every start and end is measured (:mod:`ostinato_tcp.measure`): a port's state is
polled more densely the longer it has been sending (every 0.5% of the time so far),
so the end of a send is known within about 0.25% of its length.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from . import _signals
from .errors import DroneRpcError, RunFault
from .measure import ARP_FRAME_BYTES, NDP_FRAME_BYTES, Interval, capture_spans, packet_times, sent_order, span_of, split_frames
from .ports import DronePort, PortState
from .streams import Legs, Wire, client_program, handshake, learned_runs, server_program, server_runs
from .tuples import Batch, StreamFields

if TYPE_CHECKING:
    from .dut import DutSession, Expected
    from .options import RunOptions
    from .plan import Plan
    from .result import RunEvents, RunResult

POLL_SHARE = 0.005  # poll every 0.5% of the time a port has been sending
POLL_MIN, POLL_MAX = 0.001, 0.1  # seconds
PROGRESS_EVERY = 0.1  # seconds between progress events
CAPTURE_FRAMES = 900_000  # batches timed by Drone's capture: at most this many frames on a port


class Sender:
    """Sends the plan's batches through ports ``a`` and ``b``; records what happened in ``result``."""

    def __init__(self, plan: "Plan", ports: dict[str, DronePort], result: "RunResult", events: "RunEvents",
                 opts: "RunOptions", *, dut: "DutSession | None" = None, expected: "Expected | None" = None,
                 count_poller=None, legs: Legs | None = None):
        self.plan, self.sc = plan, plan.scenario
        self.legs = legs or handshake(self.sc)  # the handshake, or a tear-down's legs
        self.a, self.b = ports["a"], ports["b"]
        self.result, self.ev, self.opts = result, events, opts
        self.dut, self.expected = dut, expected
        self.count_poller = count_poller
        self.wires: dict[str, Wire | None] = {"a": None, "b": None}  # the fast build's MACs, per port
        self.baseline_tx: dict[str, int] = {}
        self._last_sent: dict[str, int] = {}  # each port's TCP count at its last poll, for progress
        self._next_progress = 0.0
        self.start_gate = None  # called once before the first start (several pairs start together)

    # ------------------------------------------------------------------ programs and builds
    def _enabled(self, leg) -> bool:
        """A leg disabled on purpose (``--disable-stream ROLE``: a lost leg, for diagnosis tests)."""
        return leg is not None and self.opts.disable_stream != leg.role

    def _load(self, runs: list[StreamFields], *, syn: bool, ack: bool, server: bool = True) -> None:
        legs = self.legs
        syn, ack = syn and self._enabled(legs.first), ack and self._enabled(legs.last)
        self.a.load(client_program(self.sc, runs, syn=syn, ack=ack, wire=self.wires["a"], legs=legs))
        if server and legs.reply is not None:
            nat = self.sc.nat
            dests = server_runs(runs, int(nat.address) if nat.mode == "preserve-ports" else None)
            self.b.load(server_program(self.sc, dests, enabled=self._enabled(legs.reply), wire=self.wires["b"],
                                       legs=legs))

    def _build(self, *ports: DronePort) -> None:
        """Build the ports' programs; ports on different Drones build at the same time."""
        t0 = time.monotonic()
        if len(ports) == 2 and ports[0].drone is not ports[1].drone:
            with ThreadPoolExecutor(2) as pool:
                for f in [pool.submit(self._build_one, p) for p in ports]:
                    f.result()
        else:
            for p in ports:
                self._build_one(p)
        self.result.timings["build"] += time.monotonic() - t0

    def _build_one(self, p: DronePort) -> None:
        packets = sum(s.count for s in p.program if s.enabled)
        timeout = max(60.0, 10 * packets * self.plan.build_per_packet)
        try:
            p.build(timeout=timeout)
        except DroneRpcError as exc:
            if "resolve" not in str(exc).lower():
                raise
            nat = self.sc.nat
            hint = (f" The SYN-ACKs go to nat.address {nat.address}, which is on port B's link: nothing answers "
                    "ARP for it, so it is not the address the DUT translates to"
                    if p is self.b and nat.mode == "preserve-ports" else
                    " Check that the DUT answers ARP for the destination or gateway of that port's packets")
            raise RunFault(f"port {p.name}: Drone could not resolve a destination MAC ({exc}).{hint}") from None

    # ------------------------------------------------------------------ transmit and measure
    def _transmit(self, ports: dict[str, DronePort], planned: dict[str, float],
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
                starts["b"] = self.b.start()
                last_on["b"] = starts["b"][1]
                self.result.delays.append(starts["b"][0] - starts["a"][0])
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
        if self.legs.first.role != "syn":
            return
        ivs = list(done.values())
        w = self.result.send_window
        first = w if w is not None else min(ivs, key=lambda iv: iv.start_lo)
        last = max(ivs + ([w] if w is not None else []), key=lambda iv: iv.end_hi)
        self.result.send_window = Interval(first.start_lo, first.start_hi, last.end_lo, last.end_hi)

    def _progress(self, sent: dict[str, int]) -> None:
        now = time.monotonic()
        if now < self._next_progress:
            return
        self._next_progress = now + PROGRESS_EVERY
        exp = {"a": self.result.ports["a"].expected_packets, "b": self.result.ports["b"].expected_packets}
        self.ev.progress(sent.get("a", 0), sent.get("b", 0), exp["a"], exp["b"],
                         self.count_poller.count if self.count_poller else None)

    # ------------------------------------------------------------------ batches
    def send_batch(self, batch: Batch) -> None:
        plan, r = self.plan, self.result
        m, rate = batch.count, plan.rate
        fields = plan.space.stream_runs(batch)
        a, b = self.a, self.b
        if self.legs.reply is None:
            self._send_one_leg(batch, fields)
            return
        n1, n2, n3 = (_word(leg.role) for leg in (self.legs.first, self.legs.reply, self.legs.last))
        planned = {"a": 2 * m / rate, "b": m / rate}
        capture = BatchCapture(self.a, self.b, self.result) if 3 * batch.count <= CAPTURE_FRAMES else None
        if capture and not capture.start():
            capture = None
        t0, build0 = time.monotonic(), r.timings["build"]
        self._expect(batch)
        if plan.mode == "pipelined":
            self._load(fields, syn=True, ack=True)
            self._build(a, b)
            self.ev.phase("send", f"batch {batch.index + 1}: {n1}s and {n3}s on {a.name}, {n2}s on {b.name} "
                                  f"after {plan.delay:.3f} s")
            got = self._transmit({"a": a, "b": b}, planned, start_b_after=plan.delay)
            times = {"a": [got["a"]], "b": [got["b"]], "syn": got["a"].share(m, 2 * m), "handshake": got["a"]}
        else:
            learn = self.sc.nat.mode == "learn"
            self._load(fields, syn=True, ack=False, server=not learn)
            self._build(a) if learn else self._build(a, b)
            self.ev.phase("send", f"batch {batch.index + 1}: phase 1/3, {n1}s on {a.name}")
            syn = self._transmit({"a": a}, {"a": m / rate})["a"]
            if learn:
                self._learn(batch)
                self._build(b)
            self.ev.phase("send", f"batch {batch.index + 1}: phase 2/3, {n2}s on {b.name}")
            synack = self._transmit({"b": b}, {"b": m / rate})["b"]
            self._load(fields, syn=False, ack=True, server=False)
            self._build(a)
            self.ev.phase("send", f"batch {batch.index + 1}: phase 3/3, {n3}s on {a.name}")
            ack = self._transmit({"a": a}, {"a": m / rate})["a"]
            times = {"a": [syn, ack], "b": [synack], "syn": syn, "handshake": span_of(syn, ack)}
        # send time: from the first start to the last port done, Drone's builds excluded
        r.timings["send"] += (time.monotonic() - t0) - (r.timings["build"] - build0)
        if capture:
            capture.finish(batch.index, self._reference_programs(fields), m, times, pipelined=plan.mode == "pipelined")
        self._account({"a": times["a"], "b": times["b"]}, planned)
        r.syn_phase += times["syn"]
        r.handshake += times["handshake"]

    def _send_one_leg(self, batch: Batch, fields: list[StreamFields]) -> None:
        """Legs without a reply (the RST close): port A sends its one leg, timed by its transmit state."""
        r, m = self.result, batch.count
        t0, build0 = time.monotonic(), r.timings["build"]
        self._expect(batch)
        self._load(fields, syn=True, ack=False, server=False)
        self._build(self.a)
        self.ev.phase("send", f"batch {batch.index + 1}: {_word(self.legs.first.role)}s on {self.a.name}")
        got = self._transmit({"a": self.a}, {"a": m / self.plan.rate})["a"]
        r.timings["send"] += (time.monotonic() - t0) - (r.timings["build"] - build0)
        self._account({"a": [got]}, {"a": m / self.plan.rate})
        r.syn_phase += got
        r.handshake += got

    def _reference_programs(self, fields: list[StreamFields]) -> tuple[list, list]:
        """Ports A's and B's whole programs of a batch, to place each captured frame in."""
        nat = self.sc.nat
        ref_a = client_program(self.sc, fields, wire=self.wires["a"], legs=self.legs)
        ref_b = self.b.program if nat.mode == "learn" else server_program(
            self.sc, server_runs(fields, int(nat.address) if nat.mode == "preserve-ports" else None),
            wire=self.wires["b"], legs=self.legs)
        return ref_a, ref_b

    def _expect(self, batch: Batch) -> None:
        """What the plan sends in this batch (a leg disabled for a test still counts: missing)."""
        legs = self.legs
        self.result.ports["a"].expected_packets += batch.count * (2 if legs.last is not None else 1)
        self.result.ports["b"].expected_packets += batch.count if legs.reply is not None else 0

    def _account(self, intervals: dict[str, list[Interval]], planned: dict[str, float]) -> None:
        tol = self.sc.traffic.rate_tolerance
        for side, ivs in intervals.items():
            rep = self.result.ports[side]
            for iv in ivs:
                rep.transmit += iv
            rep.planned_seconds += planned[side]
            took = sum(iv.seconds - iv.bound for iv in ivs)
            if took > planned[side] * (1 + tol) + 0.005:
                rep.lagged = True

    # ------------------------------------------------------------------ NAT learn
    def _learn(self, batch: Batch) -> None:
        """NAT learn: the SYN_SENT entries' reply tuples become the SYN-ACK destinations."""
        self.ev.phase("learn", "reading the DUT's SYN_SENT entries to learn the NAT's translations")
        _, odd = self.dut.learn_replies(self.expected)
        if odd:
            self.result.warnings.append("NAT learn: the DUT changed some client ports, e.g. " + "; ".join(odd[:3]))
        try:
            runs, notes = learned_runs(self.expected, batch.first, batch.count)
        except ValueError as exc:
            raise RunFault(str(exc)) from None
        self.result.warnings.extend(notes)
        self.b.load(server_program(self.sc, runs, enabled=self._enabled(self.legs.reply), wire=self.wires["b"]))

    # ------------------------------------------------------------------ counters
    def take_baseline(self) -> None:
        """Counters before the first packet (the devices' ARP may still come in: the bytes
        tell those frames apart later)."""
        self.baselines = {"a": self.a.counters(), "b": self.b.counters()}
        self.baseline_tx = {side: c.tx_frames for side, c in self.baselines.items()}

    def settle_counters(self) -> None:
        """The run's frames per port, once Drone's counters caught up, split into TCP and ARP."""
        t = self.sc.traffic
        for side, p in (("a", self.a), ("b", self.b)):
            rep, base = self.result.ports[side], self.baselines[side]
            deadline, last, since = time.monotonic() + 3.0, None, time.monotonic()
            while True:
                c = p.counters() - base
                frames = split_frames(c.tx_frames, c.tx_bytes, t.frame_length,
                                      NDP_FRAME_BYTES if self.sc.connections.family == 6 else ARP_FRAME_BYTES)
                now = time.monotonic()
                if (frames.tcp, frames.other) != last:
                    last, since = (frames.tcp, frames.other), now
                if frames.tcp >= rep.expected_packets or now - since >= 1.2 or now > deadline:
                    break
                time.sleep(0.1)
            rep.sent_packets, rep.other_frames, rep.frames_exact = frames.tcp, frames.other, frames.exact
            if not frames.exact:
                self.result.warnings.append(
                    f"port {side.upper()} ({p.name}) sent frames of other sizes than the run's TCP frames and ARP "
                    f"({c.tx_frames} frames, {c.tx_bytes} bytes): its TCP frame count {frames.tcp} is an estimate")
        a, b = self.result.ports["a"], self.result.ports["b"]
        self.ev.finished(a.sent_packets, b.sent_packets, a.expected_packets, b.expected_packets)

    def stop_all(self) -> list[str]:
        """Stop every port this run started; returns what could not be stopped."""
        problems = []
        for p in (self.a, self.b):
            if p.started and p.state != PortState.RELEASED:
                try:
                    p.stop()
                except Exception as exc:  # noqa: BLE001 - a fault path: report, go on with the other port
                    problems.append(f"could not stop transmit on {p.name}: {exc}")
        return problems


def _word(role: str) -> str:
    """A leg's role as the output names it: SYN, SYN-ACK, ACK, FIN, FIN-ACK, last ACK, RST."""
    return {"synack": "SYN-ACK", "finack": "FIN-ACK", "lastack": "last ACK"}.get(role, role.upper())


class BatchCapture:
    """Times a batch of up to 300,000 connections by Drone's own capture of both ports (to
    microseconds, a pipelined SYN phase apart from its ACKs, and the order each connection's
    packets left in) rather than by the transmit state, whose start is known only to the
    startTransmit reply (about 10 ms after the first packet)."""

    def __init__(self, a: DronePort, b: DronePort, result: "RunResult"):
        self.a, self.b, self.result = a, b, result

    def start(self) -> bool:
        try:
            for p in (self.a, self.b):
                p.start_capture()
        except DroneRpcError as exc:
            self.result.warnings.append(f"Drone could not capture ({exc}): the send is timed by its transmit state")
            return False
        time.sleep(DronePort.CAPTURE_OPEN)
        return True

    def finish(self, index: int, refs: tuple[list, list], m: int, times: dict, *, pipelined: bool) -> None:
        """Replace the transmit-state times in ``times`` by the captures' (where they saw enough)."""
        t0 = time.monotonic()
        time.sleep(DronePort.CAPTURE_SETTLE)
        a_times, b_times = packet_times(self.a.stop_capture(), refs[0]), packet_times(self.b.stop_capture(), refs[1])
        got_a = capture_spans(a_times, {"syn": range(0, m), "ack": range(m, 2 * m), "all": range(0, 2 * m)})
        got_b = capture_spans(b_times, {"all": range(0, m)})
        r = self.result
        if pipelined and len(a_times) >= 2 * m and len(b_times) >= m:
            same_clock = self.a.drone.endpoint.rsplit(":", 1)[0] == self.b.drone.endpoint.rsplit(":", 1)[0]
            r.sent_order.append(sent_order(index, a_times, b_times, m, same_clock=same_clock))
        r.timings["capture"] = r.timings.get("capture", 0.0) + time.monotonic() - t0
        if "syn" in got_a:
            times["syn"] = got_a["syn"]
        if pipelined:
            if "all" in got_a:
                times["handshake"], times["a"] = got_a["all"], [got_a["all"]]
        elif "syn" in got_a and "ack" in got_a:
            times["a"] = [got_a["syn"], got_a["ack"]]
        if "all" in got_b:
            times["b"] = [got_b["all"]]
        r.timed_by_capture = True
