"""The send phase of a run: each batch's programs, builds and starts, in the plan's order.

Pipelined: port A sends the batch's SYNs then its ACKs; port B starts its SYN-ACKs
``delay`` seconds after A. Phased: SYNs, then SYN-ACKs, then ACKs, each phase
started when the previous one has been sent (NAT learn reads the DUT's SYN_SENT
entries between the first two).

Builds, starts and the measure of each transmit are the Transmitter's
(:mod:`ostinato_tcp.run.transmit`); the timing of a batch from Drone's captures,
:mod:`ostinato_tcp.run.batch_capture`.

A batch that lagged feeds the next one: when a port of a pipelined batch kept a slower pace
than planned, the next batch's delay is the one that keeps both ordering margins largest at
the paces measured (:func:`adapted_delay`), or, when even that margin is below
``traffic.min_margin``, the next batch is sent in phases. Each batch's record
(:class:`BatchReport`) says what was asked, what each port did and how its connections'
order is known, for the run's outcome (:mod:`ostinato_tcp.run.outcome`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from ostinato_tcp.run.batch_capture import BatchCapture
from ostinato_tcp.run.transmit import Transmitter, build_ports, count_by_capture, settle_counters
from ostinato_tcp.run.batches import BatchReport, account_ports, adapted_delay, gap_limits, mark_late_by_ports
from ostinato_tcp.errors import RunFault
from ostinato_tcp.ground.measure import IN_ORDER, NO_LIMIT, ORDER_UNKNOWN, span_of
from ostinato_tcp.drone.port import DronePort
from ostinato_tcp.domain.streams import Legs, Wire, client_program, handshake, learned_runs, server_program, server_runs
from ostinato_tcp.domain.tuples import Batch, StreamFields

if TYPE_CHECKING:
    from ostinato_tcp.domain.verdict import Expected
    from ostinato_tcp.dut.contract import DutDriver
    from ostinato_tcp.run.options import RunOptions
    from ostinato_tcp.domain.plan import Plan
    from ostinato_tcp.run.events import RunEvents
    from ostinato_tcp.run.result import Traffic

CAPTURE_FRAMES = 900_000  # batches timed by Drone's capture: at most this many frames on a port


class Sender:
    """Sends the plan's batches through ports ``a`` and ``b``; records what they sent in ``traffic``.
    ``wires``: the fast build's MACs per port (None: Drone resolves); ``start_gate``: called once
    before the first start (several port pairs start together); ``count_poller``: the DUT's
    count for progress; ``legs``: the handshake by default, or a tear-down's."""

    def __init__(self, plan: "Plan", ports: dict[str, DronePort], traffic: "Traffic", events: "RunEvents",
                 opts: "RunOptions", *, dut: "DutDriver | None" = None, expected: "Expected | None" = None,
                 wires: dict[str, Wire | None] | None = None, start_gate: Callable[[], None] | None = None,
                 count_poller=None, legs: Legs | None = None):
        self.plan, self.sc = plan, plan.scenario
        self.legs = legs or handshake(self.sc)
        self.a, self.b = ports["a"], ports["b"]
        self.result, self.ev, self.opts = traffic, events, opts
        self.dut, self.expected = dut, expected
        self.wires: dict[str, Wire | None] = wires or {"a": None, "b": None}
        self.tx = Transmitter(traffic, events, start_gate=start_gate, count_poller=count_poller,
                              window=self.legs.first.role == "syn")
        self._prepared: tuple | None = None  # (batch index, mode, delay, why, capture) of a batch loaded and built
        self._pending: tuple | None = None  # a batch whose capture is still to be read: (capture, args)
        self.reports: list[BatchReport] = traffic.batches  # one per batch sent

    # ------------------------------------------------------------------ programs and builds
    def _enabled(self, leg) -> bool:
        """A leg disabled on purpose (``--disable-stream ROLE``: a lost leg, for diagnosis tests)."""
        return leg is not None and self.opts.disable_stream != leg.role

    def _load(self, runs: list[StreamFields], *, syn: bool, ack: bool, server: bool = True) -> None:
        legs, rate = self.legs, self.plan.rate
        syn, ack = syn and self._enabled(legs.first), ack and self._enabled(legs.last)
        self.a.load(client_program(self.sc, runs, syn=syn, ack=ack, wire=self.wires["a"], legs=legs, rate=rate))
        if server and legs.reply is not None:
            nat = self.sc.nat
            dests = server_runs(runs, int(nat.address) if nat.mode == "preserve-ports" else None)
            self.b.load(server_program(self.sc, dests, enabled=self._enabled(legs.reply), wire=self.wires["b"],
                                       legs=legs, rate=rate))

    # ------------------------------------------------------------------ batches
    def _mode_for(self, batch: Batch) -> tuple[str, float | None, str]:
        """How this batch goes: the plan's mode and delay, or, after a pipelined batch that lagged,
        the delay for the paces it measured (or phases, when that leaves too small a margin)."""
        plan = self.plan
        if plan.mode != "pipelined" or self.legs.reply is None:
            return plan.mode, None, ""
        prev = self.reports[-1] if self.reports else None
        if prev is None or prev.mode != "pipelined" or not prev.lagged:
            return "pipelined", plan.delay, ""
        pa, pb = prev.ports["a"]["pace"], prev.ports["b"]["pace"]
        delay, margin = adapted_delay(batch.count, pa, pb)
        paces = f"port A {pa:,.0f}/s, port B {pb:,.0f}/s in batch {prev.index + 1} (planned {plan.rate:,.0f}/s)"
        if margin >= plan.min_margin and delay < 0.9 * plan.dut.syn_sent_timeout:
            return "pipelined", delay, (f"{paces}: delay {delay:.3f} s keeps both ordering margins at {margin:.3f} s "
                                        "at those paces")
        return "phased", None, (f"{paces}: the best delay keeps margins of only {margin:.3f} s (< {plan.min_margin:g} "
                                "s), so this batch is sent in phases")

    def prepare(self, batch: Batch) -> None:
        """Load and build what the batch sends first (the run builds its first batch while the
        DUT is being cleared), and open the batch's capture."""
        mode, delay, why = self._mode_for(batch)
        fields = self.plan.space.stream_runs(batch)
        capture = None
        wants_capture = self.legs.reply is not None and 3 * batch.count <= CAPTURE_FRAMES
        if wants_capture and self._pending is None:  # nothing to read first: the capture opens while this builds
            capture = self._open_capture()
        if self.legs.reply is None:
            self._load(fields, syn=True, ack=False, server=False)
            self._build(self.a)
        elif mode == "pipelined":
            self._load(fields, syn=True, ack=True)
            self._build(self.a, self.b)
        else:
            learn = self.sc.nat.mode == "learn"
            self._load(fields, syn=True, ack=False, server=not learn)
            self._build(self.a) if learn else self._build(self.a, self.b)
        if self._pending is not None:
            self.finish_pending()  # the previous batch's capture settled while this one built
            if wants_capture:
                capture = self._open_capture()
        self._prepared = (batch.index, mode, delay, why, capture)

    def _open_capture(self) -> BatchCapture | None:
        capture = BatchCapture(self.a, self.b, self.result)
        return capture if capture.start() else None

    def send_batch(self, batch: Batch) -> None:
        if self._prepared is None or self._prepared[0] != batch.index:
            self.prepare(batch)
        _, mode, delay, why, capture = self._prepared
        self._prepared = None
        if capture is not None:
            capture.wait_open()
        plan, r = self.plan, self.result
        m, rate = batch.count, plan.rate
        fields = plan.space.stream_runs(batch)
        a, b = self.a, self.b
        rep = BatchReport(index=batch.index, first=batch.first, count=m, mode=mode, delay=delay, why=why)
        if why:
            r.warnings.append(f"batch {batch.index + 1}: {why}")
        self._expect(batch)
        t0, build0 = time.monotonic(), r.timings["build"]
        if self.legs.reply is None:
            planned = {"a": m / rate}
            self.ev.phase("send", f"batch {batch.index + 1}: {_word(self.legs.first.role)}s on {a.name}")
            got = self.tx.run({"a": a}, planned)["a"]
            times = {"a": [got], "syn": got, "handshake": got}
        elif mode == "pipelined":
            n1, n2, n3 = (_word(leg.role) for leg in (self.legs.first, self.legs.reply, self.legs.last))
            planned = {"a": 2 * m / rate, "b": m / rate}
            rep.margin = min(delay, m / rate - delay)
            self.ev.phase("send", f"batch {batch.index + 1}: {n1}s and {n3}s on {a.name}, {n2}s on {b.name} "
                                  f"after {delay:.3f} s")
            got = self.tx.run({"a": a, "b": b}, planned, start_b_after=delay)
            times = {"a": [got["a"]], "b": [got["b"]], "syn": got["a"].share(m, 2 * m), "handshake": got["a"]}
        else:
            times, planned = self._phased(batch, fields, m, rate)
        if r.last_leg_began is None:  # the earliest a connection's last packet went: the hold's keep-alives count from it
            r.last_leg_began = times["a"][-1].start_lo
        # send time: from the first start to the last port done, Drone's builds excluded
        r.timings["send"] += (time.monotonic() - t0) - (r.timings["build"] - build0)
        account_ports(rep, self.result.ports, {side: times[side] for side in planned}, planned,
                      packets={"a": m * (2 if self.legs.last is not None else 1), "b": m},
                      tolerance=self.sc.traffic.rate_tolerance)
        self.reports.append(rep)
        marks = r.order_marks
        if marks is not None:  # what is known of this batch's order before any capture is read
            marks[batch.first:batch.first + m] = bytes([IN_ORDER if not rep.suspect else ORDER_UNKNOWN]) * m
            mark_late_by_ports(marks, batch, times, rep, self._limits(rep), rate=rate,  # a capture read later
                               tolerance=self.sc.traffic.rate_tolerance)  # times each one
        rep.order = "phased" if mode == "phased" else ("port timing, " + ("a port fell behind its plan" if rep.suspect
                                                                          else "no port fell behind by its margin"))
        if capture is None:
            r.uncaptured_batches += 1
        if capture is not None:
            capture.mark_sent()
            self._pending = (capture, batch, self._reference_programs(fields), times, mode == "pipelined", rep)
        else:
            self._commit(times)

    def _phased(self, batch: Batch, fields, m: int, rate: float) -> tuple[dict, dict]:
        a, b = self.a, self.b
        n1, n2, n3 = (_word(leg.role) for leg in (self.legs.first, self.legs.reply, self.legs.last))
        learn = self.sc.nat.mode == "learn"
        self.ev.phase("send", f"batch {batch.index + 1}: phase 1/3, {n1}s on {a.name}")
        syn = self.tx.run({"a": a}, {"a": m / rate})["a"]
        if learn:
            self._learn(batch)
            self._build(b)
        self.ev.phase("send", f"batch {batch.index + 1}: phase 2/3, {n2}s on {b.name}")
        synack = self.tx.run({"b": b}, {"b": m / rate})["b"]
        self._load(fields, syn=False, ack=True, server=False)
        self._build(a)
        self.ev.phase("send", f"batch {batch.index + 1}: phase 3/3, {n3}s on {a.name}")
        ack = self.tx.run({"a": a}, {"a": m / rate})["a"]
        times = {"a": [syn, ack], "b": [synack], "syn": syn, "handshake": span_of(syn, ack)}
        return times, {"a": 2 * m / rate, "b": m / rate}

    def _commit(self, times: dict) -> None:
        """A batch's times (the capture's, where it was read) into the ports' and the run's spans."""
        r = self.result
        for side in ("a", "b"):
            for iv in times.get(side, []):
                r.ports[side].transmit += iv
        r.syn_phase += times["syn"]
        r.handshake += times["handshake"]

    def finish_pending(self) -> None:
        """Read the last batch's capture (once Drone has handed its frames over) and commit its times."""
        if self._pending is None:
            return
        capture, batch, refs, times, pipelined, rep = self._pending
        self._pending = None
        capture.finish(batch, refs, times, pipelined=pipelined, marks=self.result.order_marks,
                       limits=self._limits(rep))
        if pipelined and capture.order_read:
            rep.order = "Drone's captures" + ("" if capture.same_clock else " (two Drone hosts: clock offset measured)")
        self._commit(times)

    def _limits(self, rep: BatchReport) -> tuple[float, float]:
        if self.result.order_marks is None:
            return NO_LIMIT
        return gap_limits(rep, self.legs, self.plan)

    def _reference_programs(self, fields: list[StreamFields]) -> tuple[list, list]:
        """Ports A's and B's whole programs of a batch, to place each captured frame in."""
        nat, rate = self.sc.nat, self.plan.rate
        ref_a = client_program(self.sc, fields, wire=self.wires["a"], legs=self.legs, rate=rate)
        ref_b = self.b.program if nat.mode == "learn" else server_program(
            self.sc, server_runs(fields, int(nat.address) if nat.mode == "preserve-ports" else None),
            wire=self.wires["b"], legs=self.legs, rate=rate)
        return ref_a, ref_b

    def _expect(self, batch: Batch) -> None:
        """What the plan sends in this batch (a leg disabled for a test still counts: missing)."""
        legs = self.legs
        self.result.ports["a"].expected_packets += batch.count * (2 if legs.last is not None else 1)
        self.result.ports["b"].expected_packets += batch.count if legs.reply is not None else 0

    # ------------------------------------------------------------------ NAT learn
    def _build(self, *ports: DronePort) -> None:
        build_ports(list(ports), per_packet=self.plan.build_per_packet, traffic=self.result, hint=self._build_hint)

    def _build_hint(self, p: DronePort) -> str:
        nat = self.sc.nat
        if p is self.b and nat.mode == "preserve-ports":
            return (f" The SYN-ACKs go to nat.address {nat.address}, which is on port B's link: nothing answers "
                    "ARP for it, so it is not the address the DUT translates to")
        return " Check that the DUT answers ARP for the destination or gateway of that port's packets"

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
        self.b.load(server_program(self.sc, runs, enabled=self._enabled(self.legs.reply), wire=self.wires["b"],
                                   rate=self.plan.rate))

    # ------------------------------------------------------------------ counters
    def take_baseline(self, baselines: dict | None = None, not_ours: dict[str, int] | None = None) -> None:
        """Counters before the first packet (the devices' ARP may still come in: the bytes
        tell those frames apart later). ``baselines``: counters read earlier, before the probe,
        with ``not_ours`` the frames of the run's size each port sent since that are not the run's
        (the probe's): Drone refreshes its counters about once a second, so counters read right
        after the probe could miss its last frames and count them as the run's."""
        self.baselines = baselines or {"a": self.a.counters(), "b": self.b.counters()}
        self.not_ours = dict(not_ours or {})
        self.tx.baseline_tx.update({side: c.tx_frames + self.not_ours.get(side, 0)
                                    for side, c in self.baselines.items()})

    def after_send(self) -> None:
        """Once the last batch is sent: its capture read, then the ports' counters settled (beside
        the DUT's dump). The capture holds its last frames about a second after they were sent,
        by when Drone (which refreshes its counters once a second) has counted them too: the two
        waits are one."""
        self.finish_pending()
        self.settle_counters()
        count_by_capture(self.result, {"a": self.a.name, "b": self.b.name}, self.ev)

    def settle_counters(self) -> None:
        settle_counters(self.result, {"a": self.a, "b": self.b}, self.baselines, self.not_ours,
                        frame_length=self.sc.traffic.frame_length, family=self.sc.connections.family)


def _word(role: str) -> str:
    """A leg's role as the output names it: SYN, SYN-ACK, ACK, FIN, FIN-ACK, last ACK, RST."""
    return {"synack": "SYN-ACK", "finack": "FIN-ACK", "lastack": "last ACK"}.get(role, role.upper())
