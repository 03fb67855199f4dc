"""One conformance case as a run (:class:`CaseRunner`): the main job's plan, ports, devices,
clear and freshness proof, then the case's steps instead of the handshake, and each
connection's end state read from the DUT.

The steps go one after another, each on its own port (A: the clients, B: the servers) as one
program over every connection of the plan, started when the step before has been sent and a
short gap has passed (:data:`STEP_GAP`). The dump that follows is judged with the states
tracked; the case's own verdict is the job's (:mod:`ostinato_tcp.jobs.conformance`).

A case whose first packet comes from the server (``reversed``) would make entries whose
original direction is server -> client, which the test space's filter (original destination:
the servers) does not show: the clients' side of the space is read too, before the first packet
(it must hold none of the run's tuples) and after the last.
"""

from __future__ import annotations

import ipaddress
import time

from ostinato_tcp.domain.conformance import (ASSURED, CLOSE, ESTABLISHED, NO_ENTRY, SYN_RECV, SYN_SENT, Case,
                                             Step)
from ostinato_tcp.domain.streams import Legs, client_program, server_program, server_runs
from ostinato_tcp.domain.tuples import Servers
from ostinato_tcp.domain.verdict import EST_NOT_ASSURED, MISSING, REPLY_MISMATCH, STALE
from ostinato_tcp.errors import RunFault
from ostinato_tcp.ground.background import Background
from ostinato_tcp.ground.pcap import tcp_segments
from ostinato_tcp.run.runner import Runner
from ostinato_tcp.run.send import CAPTURE_FRAMES
from ostinato_tcp.run.transmit import Transmitter, build_ports

STEP_GAP = 0.1  # seconds between one step's last packet and the next step's first
SETTLE = 3.0  # seconds at most for Drone's counters to catch up with the last step (it refreshes them once a second)
PORTS_PER_READ = 2048  # client ports per read of the clients' side of the space
TAG = 0x0C0F_0001  # the payload tag of a case's data segments (nothing reads it back)
REVERSED = "server -> client entry"  # the outcome of a connection whose first packet, from the server, made an entry


class CaseRunner(Runner):
    """Runs ``case`` over the scenario's connections; ``result.verdict`` holds every connection's
    state (``track_states``), ``outcomes`` what became of each one, ``reversed_entries`` the
    server -> client entries of a reversed case."""

    def __init__(self, sc, case: Case, opts=None, events=None, *, openers=None, capture: bool = True):
        super().__init__(sc, opts, events, openers=openers)
        self.case, self.capture = case, capture
        self.outcomes: dict[str, int] = {}
        self.reversed_entries = 0
        self.sent: dict[str, int] = {}  # each port's frames sent during the steps
        self.steps_sent: list[dict] = []  # each step as sent: role, port, packets, seconds (Drone's transmit)
        self._capturing = False
        self.forwarded: list[int] | None = None  # per step: its packets the other port received (None: not measured)
        self.forwarded_note = ""

    # ------------------------------------------------------------------ phases of the main job, replaced
    def _prepare(self) -> None:
        early = self._dut_clear
        if early is None:
            self._clear_dut()
        else:
            early.join()
        self._prove_fresh_start(announce=False)
        if self.case.reversed:  # the clients' side of the space must be empty too: cleared as the servers' is
            n = self._count_reversed()
            if n and self.sc.dut.clear != "none":
                for chunk in self._client_chunks():
                    self.dut.clear(chunk, "test")
                n = self._count_reversed()
            if n:
                raise RunFault(f"{n} entries from the servers to the test's clients were on the DUT before the case's "
                               f"first packet (dut.clear {self.sc.dut.clear}): they are not this run's")

    def _send(self) -> None:
        r, sc = self.result, self.sc
        plan = r.plan
        runs = [f for b in plan.batches for f in plan.space.stream_runs(b)]
        tx = Transmitter(r.traffic, self.ev, window=True)
        base = {side: p.counters() for side, p in self.ports.items()}
        tx.baseline_tx.update({side: c.tx_frames for side, c in base.items()})
        total = plan.total
        self._capturing = self.capture and len(self.case.steps) * total <= CAPTURE_FRAMES
        if self._capturing:  # what the DUT forwarded of each step: both ports capture, from before the first
            for p in self.ports.values():
                p.start_capture()
            time.sleep(max(p.capture_open for p in self.ports.values()))
        elif not self.capture:
            self.forwarded_note = "not captured (--no-capture)"
        else:
            self.forwarded_note = (f"not captured: {len(self.case.steps)} steps x {total:,} connections pass the "
                                   f"{CAPTURE_FRAMES:,} frames a port's capture holds")
        for i, step in enumerate(self.case.steps):
            port = self.ports[step.side]
            port.load(step_program(sc, step, runs, plan.rate, self.wires[step.side]))
            build_ports([port], per_packet=plan.build_per_packet, traffic=r.traffic, hint=lambda p: "")
            r.traffic.ports[step.side].expected_packets += total
            self.ev.phase("send", f"step {i + 1}/{len(self.case.steps)}: {step.role} on {port.name} "
                                  f"({total:,} packets)")
            got = tx.run({step.side: port}, {step.side: total / plan.rate})[step.side]
            self.steps_sent.append({"role": step.role, "port": step.side, "packets": total,
                                    "seconds": round(got.end_hi - got.start_lo, 6)})
            r.timings["send"] += got.end_hi - got.start_lo
            time.sleep(STEP_GAP)
        self._base, self._sent_at = base, time.monotonic()

    def _settle(self) -> None:
        """Each port's frames sent during the steps, once Drone's counters caught up (beside the dump)."""
        ports = self.result.traffic.ports
        deadline = time.monotonic() + SETTLE
        while True:
            for side, p in self.ports.items():
                self.sent[side] = (p.counters() - self._base[side]).tx_frames
                ports[side].sent_packets = self.sent[side]
            if time.monotonic() > deadline or all(self.sent[s] >= ports[s].expected_packets for s in self.case.sides):
                break
            time.sleep(0.1)
        if self._capturing:
            time.sleep(max(0.0, self._sent_at + max(p.capture_settle for p in self.ports.values()) - time.monotonic()))
            pcaps = {side: p.stop_capture() for side, p in self.ports.items()}
            self.forwarded, self.forwarded_note = forwarded_counts(self.case, self.sc, pcaps, self.result.plan.total)

    def _check_sent(self) -> None:
        ports = self.result.traffic.ports
        if any(self.sent[s] < ports[s].expected_packets for s in self.case.sides):
            short = ", ".join(f"port {s.upper()} {self.sent[s]:,}/{ports[s].expected_packets:,}"
                              for s in sorted(self.case.sides))
            raise RunFault(f"case {self.case.name}: a port sent fewer frames than the case's steps ({short})")

    def _verify(self) -> None:
        r = self.result
        self.ev.phase("verify", "dumping the DUT's conntrack table and judging every connection's end state")

        side = Background(self._settle)
        with self._timed("verify"):
            try:
                r.health_after = self.dut.health()
                r.verdict, r.dump = self.dut.verify(r.expected, fresh=r.freshness, track_states=True)
                if self.case.reversed:
                    self.reversed_entries = self._count_reversed()
            finally:
                side.join()
        r.timings["dump"] = r.dump.get("seconds", 0.0)
        self._check_sent()
        for step, n in zip(self.steps_sent, self.forwarded or [None] * len(self.steps_sent)):
            step["forwarded"] = n
        self.outcomes = outcomes_of(r.verdict)
        if self.reversed_entries:
            left = self.outcomes.pop(NO_ENTRY, 0) - self.reversed_entries  # a connection has one outcome
            if left > 0:
                self.outcomes[NO_ENTRY] = left
            self.outcomes[REVERSED] = self.reversed_entries

    def _clear_after(self) -> None:
        super()._clear_after()
        if self.reversed_entries and not self.opts.keep_entries:  # the server -> client entries a lenient DUT made
            for chunk in self._client_chunks():
                self.dut.clear(chunk, "test")

    def _report(self) -> None:  # the job judges the case
        return None

    def _carry(self) -> None:
        return None

    def _hold(self) -> None:
        return None

    def _teardown(self) -> None:
        return None

    # ------------------------------------------------------------------ the clients' side of the space
    def _client_chunks(self) -> list[Servers]:
        """The test's clients as original destinations: every client address times the ports the
        run's clients use, in chunks of at most :data:`PORTS_PER_READ` ports (a driver may list
        each port in its filter)."""
        sp, exp = self.result.plan.space, self.result.expected
        ports = {sp.client_of(n)[1] for n in range(exp.space.total)}
        lo, hi = min(ports), max(ports)
        return [Servers(first_ip=sp.first_ip, first_port=p, ip_count=sp.ip_count,
                        port_count=min(PORTS_PER_READ, hi - p + 1), family=self.sc.connections.family)
                for p in range(lo, hi + 1, PORTS_PER_READ)]

    def _count_reversed(self) -> int:
        """Entries from a server endpoint to one of the test's client tuples (original direction),
        each counted once however the chunks' filters overlap."""
        servers = set(Servers.of(self.sc.connections).endpoints())
        clients = {ip for ip in Servers(first_ip=self.result.plan.space.first_ip, first_port=1,
                                        ip_count=self.result.plan.space.ip_count).ips()}
        found: set = set()
        for chunk in self._client_chunks():
            lo, hi = chunk.first_port, chunk.last_port()

            def sink(entries, lo=lo, hi=hi) -> None:
                for e in entries:
                    src, dst = int(ipaddress.ip_address(e[1].decode())), int(ipaddress.ip_address(e[2].decode()))
                    if (src, int(e[3])) in servers and dst in clients and lo <= int(e[4]) <= hi:
                        found.add((src, int(e[3]), dst, int(e[4])))

            self.dut.dump_space(chunk, sink)
        return len(found)


def step_program(sc, step: Step, runs, rate: float, wire=None) -> list:
    """The program of one step: its leg over every connection of ``runs``, on port A (to the
    servers) or port B (to the clients), numbered from the scenario's ISNs."""
    leg = step.leg(sc.traffic.client_isn, sc.traffic.server_isn)
    if step.side == "a":
        return client_program(sc, runs, syn=True, ack=False, wire=wire, legs=Legs(leg), rate=rate, tag=TAG)
    return server_program(sc, server_runs(runs), wire=wire, legs=Legs(leg, reply=leg), rate=rate, tag=TAG)


def forwarded_counts(case: Case, sc, pcaps: dict[str, bytes], total: int) -> tuple[list[int] | None, str]:
    """Per step, its packets the other port's capture received (the DUT forwarded them), told
    apart by direction, flags, seq and ack (each step has its own); None, with why, when a port's
    capture holds fewer of its own step's packets than it sent (a capture that lost frames cannot
    say what was not forwarded)."""
    steps = case.steps
    keys = {}
    for i, st in enumerate(steps):
        leg = st.leg(sc.traffic.client_isn, sc.traffic.server_isn)
        keys[(st.side == "a", leg.flags, leg.seq, leg.ack)] = i
    if len(keys) != len(steps):
        raise ValueError(f"case {case.name}: two steps look alike on the wire")
    servers = set(Servers.of(sc.connections).endpoints())
    own, forwarded = [0] * len(steps), [0] * len(steps)
    for side, data in pcaps.items():
        for seg in tcp_segments(data):
            to_server = (seg.dst, seg.dport) in servers
            if not to_server and (seg.src, seg.sport) not in servers:
                continue
            i = keys.get((to_server, seg.flags, seg.seq, seg.ack))
            if i is not None:
                if steps[i].side == side:
                    own[i] += 1
                else:
                    forwarded[i] += 1
    short = [i for i, n in enumerate(own) if n < total]
    if short:
        i = short[0]
        return None, (f"not measured: port {steps[i].side.upper()}'s capture holds {own[i]:,} of the {total:,} "
                      f"{steps[i].role} packets it sent")
    return forwarded, ""


def outcomes_of(verdict) -> dict[str, int]:
    """Each connection's outcome, counted: no entry, its state, ESTABLISHED split by [ASSURED];
    an entry older than the run is ``older than the run`` (it proves nothing)."""
    out: dict[str, int] = {}
    names = verdict.state_names
    ids, codes = verdict.state_ids, verdict.codes
    for n in range(verdict.expected):
        code = codes[n]
        if code == MISSING:
            key = NO_ENTRY
        elif code == STALE:
            key = "older than the run"
        elif code == REPLY_MISMATCH:
            key = "reply tuple not the expected one"
        else:
            st = names[ids[n] - 1] if ids is not None and ids[n] else "?"
            key = {"SYN_SENT": SYN_SENT, "SYN_RECV": SYN_RECV, "CLOSE": CLOSE}.get(st, st)
            if st == "ESTABLISHED":
                key = ESTABLISHED if code == EST_NOT_ASSURED else ASSURED
        out[key] = out.get(key, 0) + 1
    return out
