"""The main job, as a sequence of phases; each phase's work lives in its own module.

    plan      read the DUT (capacity, timeouts), make the plan: refused before anything is sent
    claim     connect to the Drone(s), claim ports A and B (:class:`~ostinato_tcp.drone.port.DronePort`)
    configure emulated devices on both ports; every device has its gateway's MAC
    probe     Drone's build cost, its fast build's frames and each port's send ceiling
              (:mod:`ostinato_tcp.run.probe`); the final plan: a rate above the ceiling is refused here
    clear     the test's old entries on the DUT, then its address space read back (it must hold
              none of this run's tuples), while Drone builds the first batch
    send      per batch: programs, builds, starts, measured (:class:`~ostinato_tcp.run.send.Sender`)
    verify    dump and judge the DUT's entries (Drone's counters and captures settle meanwhile)
    report    diagnosis, from the verdict, the DUT's counters and what the ports did
    traffic   with ``expect.proof: [table, traffic]``: a data segment each way over every
              connection, captured on both ports and judged (:mod:`ostinato_tcp.run.carry`)
    hold, teardown  ``expect.hold`` and ``traffic.teardown`` (:mod:`.hold`, :mod:`.teardown`)
    release   always: stop what was started, remove what was created, restore what was changed
    outcome   pass, fail (the DUT), inconclusive (the traffic) or error (:mod:`ostinato_tcp.run.outcome`)

A fault stops traffic on every port this run started and becomes data in the result
(``result.error``, ``result.exception``; the verdict word is ``error``): the caller
chooses to raise (:meth:`~ostinato_tcp.run.result.RunResult.raise_for_error`). SIGINT and
SIGTERM (:class:`~ostinato_tcp.errors.Interrupted`) are raised after the clean-up,
with the partial result attached as ``exc.result``. The core never prints: progress
goes to :class:`~ostinato_tcp.run.result.RunEvents`.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from ostinato_tcp.domain.diagnosis import diagnose
from ostinato_tcp.domain.facts import DutFacts
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.streams import client_devices, server_devices
from ostinato_tcp.drone import DroneApi, check_backend
from ostinato_tcp.drone.port import DronePort, gateway_changes
from ostinato_tcp.dut.contract import DutDriver, close_quietly, refuse_deletes
from ostinato_tcp.errors import Interrupted, OstinatoTcpError
from ostinato_tcp.ground import signals as _signals
from ostinato_tcp.ground.background import Background
from ostinato_tcp.ground.measure import stopwatch
from ostinato_tcp.ground.naming import owner_tag
from ostinato_tcp.run.carry import carry_phase
from ostinato_tcp.run.connect import (DroneOpener, DutOpener, Openers, connect_drone, find_port, gateways, release_all,
                                      resolve_space, stop_all)
from ostinato_tcp.run.dut_phases import CountPoller, clear_after, isns_for_run, plan_facts, read_after_traffic
from ostinato_tcp.run.events import RunEvents
from ostinato_tcp.run.hold import hold_phase
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.run.outcome import traffic_notes
from ostinato_tcp.run.probe import probe_servers
from ostinato_tcp.run.probe_phase import measure_drone, probe_stands_in, replan
from ostinato_tcp.run.result import PortReport, RunResult
from ostinato_tcp.run.send import Sender
from ostinato_tcp.run.teardown import teardown_phase
from ostinato_tcp.scenario import Scenario

log = logging.getLogger(__name__)
VERIFY_PHASE = {True: "dumping the DUT's conntrack table and judging every connection",
                False: "reading Drone's counters (dut.kind none: no table to read)"}


def precheck(sc: Scenario) -> None:
    """Refuse what no DUT could make work (delay window, margins, layout), before any
    connection to Drone or the DUT: the plan with unlimited DUT timeouts and capacity."""
    make_plan(sc, DutFacts(syn_sent_timeout=10**9, syn_recv_timeout=10**9, source="precheck"))


class Runner:
    """Runs one scenario. ``openers`` (or ``drone_opener`` / ``dut_opener``) let tests put fakes in;
    ``start_gate`` is called before the first transmit (several pairs start together); a job's
    own purposes: ``overfill`` (the capacity probe: more connections than the table takes, on
    purpose) and ``reserved`` (the entries a run's other port pairs add to the DUT's table)."""

    def __init__(self, sc: Scenario, opts: RunOptions | None = None, events: RunEvents | None = None, *,
                 openers: Openers | None = None, drone_opener: DroneOpener | None = None,
                 dut_opener: DutOpener | None = None, start_gate: Callable[[], None] | None = None,
                 overfill: bool = False, reserved: int = 0):
        self.sc = sc = isns_for_run(sc)  # dut.kind none: this run's own sequence numbers
        self.start_gate = start_gate
        self.opts = opts or RunOptions()
        self.ev = events or RunEvents()
        self.result = RunResult(scenario=sc)
        self.openers = openers or Openers(drone=drone_opener, dut=dut_opener)
        self.overfill, self.reserved = overfill, reserved
        self.drones: dict[str, DroneApi] = {}  # each port's own connection, by side
        self.ports: dict[str, DronePort] = {}
        self.dut: DutDriver | None = None
        self.facts: DutFacts | None = None  # what the plan knows of the DUT (read in the plan phase)
        self.sender: Sender | None = None
        self._poller: CountPoller | None = None
        self.wires: dict = {"a": None, "b": None}
        self.gateway_macs: dict[str, dict[int, int]] = {}
        self._counters: dict = {}  # each port's counters before the probe (the run's sent counts start there)
        self._dut_clear: Background | None = None  # the DUT's clear, started beside ARP when no probe is sent
        self._probe_frames: dict[str, int] = {}  # frames of the run's size each port's probe sent since
        self.owner = owner_tag(sc.name)

    # ------------------------------------------------------------------ the sequence
    def run(self) -> RunResult:
        """Run every phase; SIGINT and SIGTERM stop the run cleanly (see :mod:`ostinato_tcp.ground.signals`)."""
        with _signals.stop_on_signals():
            return self._run()

    def _run(self) -> RunResult:
        r = self.result
        t_start = time.monotonic()
        r.timings.update(build=0.0, send=0.0)
        try:
            for phase in (self._plan, self._claim, self._configure, self._prepare, self._send, self._verify,
                          self._report, self._carry, self._hold, self._teardown, self._clear_after):
                phase()
        except (OstinatoTcpError, Interrupted) as exc:
            r.error = f"stopped by {exc}" if isinstance(exc, Interrupted) else str(exc)
            r.exception = exc
            with _signals.shielded():
                stop_all(self.ports)  # a fault must not leave traffic running
            if isinstance(exc, Interrupted):
                exc.result = r
        except BaseException:  # a bug, or KeyboardInterrupt without our handlers: stop, clean up, raise
            with _signals.shielded():
                stop_all(self.ports)  # a fault must not leave traffic running
            raise
        finally:
            with _signals.shielded():  # a signal now waits until the clean-up is done
                self._release()
                r.timings["total"] = time.monotonic() - t_start
                r.close_timings()
                r.decide()
        if isinstance(r.exception, Interrupted):
            raise r.exception
        return r

    def _timed(self, key: str):
        return stopwatch(self.result.timings, key)

    # ------------------------------------------------------------------ phases
    def _plan(self) -> None:
        r = self.result
        check_backend(self.opts.drone_backend)
        if not self.opts.force:
            precheck(self.sc)
        self.ev.phase("plan", "reading the DUT and planning")
        with self._timed("plan"):
            self.dut = self.openers.open_dut(self.sc, self.opts)
            refuse_deletes(self.dut, self.sc)
            r.health_before = self.dut.health()
            self.facts = plan_facts(self.dut, r.health_before, self.sc, reserved=self.reserved)
            r.plan = make_plan(self.sc, self.facts, force=self.opts.force, overfill=self.overfill)
        r.warnings.extend(r.plan.warnings)
        r.expected = r.plan.expected()
        if self.sc.dut.clear == "none":  # nothing will be cleared: refuse an earlier run's entries now
            self._prove_fresh_start()
        self.ev.planned(r.plan)

    def _claim(self) -> None:
        self.ev.phase("configure", "connecting to Drone and configuring ports")
        with self._timed("configure"):
            for side in ("a", "b"):
                # a connection per port: Drone serves each connection on a thread of its own, so the
                # two ports build side by side even on one Drone (benchmarks/build_parallel_bench.py)
                key = getattr(self.sc.ports, side).drone
                conn = self.drones[side] = connect_drone(self.sc, key, self.openers, self.opts)
                self.result.drone_versions[key] = conn.drone_version or "unknown"
                port = self.ports[side] = find_port(self.sc, side, conn, self.owner)
                self.result.traffic.ports[side] = PortReport(name=port.name, drone=port.drone.endpoint)
            for port in self.ports.values():
                self.result.warnings.extend(port.claim(take_over=self.opts.take_over_ports))

    def _configure(self) -> None:
        sc, sp = self.sc, self.result.plan.space
        with self._timed("configure"):
            self.ports["a"].add_devices(client_devices(sc, sp.first_ip, sp.ip_count))
            self.ports["b"].add_devices(server_devices(sc))
            if probe_stands_in(self.ports, sc, self.opts):  # no probe entries to wait for: clear beside ARP
                self._dut_clear = Background(self._clear_dut)
            self.ev.phase("arp", "resolving the DUT's gateways from the emulated devices")
            self._resolve()
            self._probe()

    def _clear_dut(self) -> None:
        """The test's old entries (and the probe's) go; the counters the run's deltas start from."""
        r = self.result
        self.dut.clear(r.plan.space.servers, self.sc.dut.clear, also=probe_servers(self.sc))
        r.health_before = self.dut.health()  # after the probe: its packets are not the run's

    def _probe(self) -> None:
        """Measure Drone (build cost, the fast build's frames, each port's send ceiling), then plan
        again with what was measured (:mod:`.probe_phase`)."""
        r, sc = self.result, self.sc
        self.ev.phase("probe", f"measuring Drone: its build ({sc.traffic.drone_build} form) and both ports' send "
                               "ceiling")
        # the ports' counters before the probe: the run's sent counts start here, less the probe's frames
        self._counters = {side: p.counters() for side, p in self.ports.items()}
        with self._timed("probe"):
            probe = measure_drone(sc, self.ports, self.opts, self.facts.free_entries if self.facts else None)
        self.gateway_macs, self.wires, self._probe_frames = probe.gateway_macs, probe.wires, probe.sent
        r.build_checks = [c.to_dict() for c in probe.checks]
        r.warnings.extend(c.note for c in probe.checks if c.form == "resolve" and c.note)
        plan = replan(sc, self.facts, self.opts, probe, overfill=self.overfill)
        if plan.space != r.plan.space:
            r.expected = plan.expected()
        r.warnings.extend(w for w in plan.warnings if w not in r.warnings)
        r.plan = plan

    def _prepare(self) -> None:
        """The DUT's old entries go (one by one: it takes a while at scale) and its space is read back
        while Drone builds the first batch."""
        r, sc = self.result, self.sc
        r.traffic.order_marks = bytearray(r.plan.total)
        interval = self.opts.poll_interval if self.opts.poll_interval is not None else sc.dut.poll_interval
        self._poller = CountPoller(self.dut, interval) if interval and interval > 0 and self.dut.reads_table else None
        self.sender = Sender(r.plan, self.ports, r.traffic, self.ev, self.opts, dut=self.dut, expected=r.expected,
                             wires=self.wires, start_gate=self.start_gate, count_poller=self._poller)
        self.ev.phase("clear", f"clearing the test's entries on the DUT ({sc.dut.clear}) and reading its space "
                               "back, while Drone builds batch 1" if self.dut.reads_table else "Drone builds batch 1")

        early = self._dut_clear

        def clear_then_prove() -> None:
            if early is None:
                self._clear_dut()
            else:
                early.join()  # cleared while ARP resolved
            self._prove_fresh_start(announce=False)

        dut_side = Background(clear_then_prove)
        try:
            self.sender.prepare(r.plan.batches[0])
        finally:
            dut_side.join()

    def _prove_fresh_start(self, announce: bool = True) -> None:
        if announce:
            self.ev.phase("fresh", "reading the test's address space back before the first packet")
        r = self.result
        r.freshness = self.dut.prove_fresh_start(r.expected, self.sc.dut.clear,
                                                 timestamps=r.health_before.timestamp == 1)

    def _resolve(self) -> None:
        """Every emulated device must know its gateway's MAC before anything is built."""
        resolve_space(self.sc, self.ports, self.result.plan.space)

    def _send(self) -> None:
        r = self.result
        self.sender.take_baseline(self._counters, self._probe_frames)
        if self._poller is not None:
            self._poller.start()
        for batch in r.plan.batches:
            self.ev.batch_started(batch, len(r.plan.batches))
            self.sender.send_batch(batch)
        self._stop_poller()

    def _verify(self) -> None:
        """Counters and the dump after the traffic. Drone's counters lag the end of transmit by
        up to a second: they settle while the DUT is read. A dropped SSH connection is retried
        once; after that the run ends with ``error`` set and the traffic figures still reported."""
        r = self.result
        self.ev.phase("verify", VERIFY_PHASE[self.dut.reads_table])

        def after_traffic() -> None:  # beside the dump: the gateways' MACs now (against those the frames
            # were sent to), the capture, the counters
            r.gateway_changes.extend(gateway_changes(self.ports, gateways(self.sc, self.ports), self.gateway_macs))
            self.sender.after_send()

        settle = Background(after_traffic)
        with self._timed("verify"):
            try:
                r.health_after, r.verdict, r.dump = read_after_traffic(self.dut, r.expected, r.freshness,
                                                                       r.warnings)
            finally:
                settle.join()
        r.timings["dump"] = r.dump.get("seconds", 0.0)

    def _carry(self) -> None:  # expect.proof traffic: a data segment each way over every connection
        with self._timed("carry"):
            carry_phase(self.result, ports=self.ports, events=self.ev, wires=self.wires)

    def _hold(self) -> None:
        """expect.hold: the connections stay (idle, or with keep-alive ACKs), then every one is
        judged again; a run whose verdict failed is not held."""
        with self._timed("hold"):
            hold_phase(self.result, dut=self.dut, port_a=self.ports["a"], events=self.ev, wire=self.wires["a"])

    def _teardown(self) -> None:
        """traffic.teardown: Drone closes every connection; each one's state is proven after."""
        with self._timed("teardown"):
            teardown_phase(self.result, dut=self.dut, ports=self.ports, events=self.ev, opts=self.opts,
                           wires=self.wires)

    def _clear_after(self) -> None:
        """Leave the DUT as it was found: the test's entries go after the verdict (unless kept)."""
        r = self.result
        r.entries_removed, r.entries_after, r.delete_rate = clear_after(self.dut, self.sc, keep=self.opts.keep_entries,
                                                         warnings=r.warnings)

    def _report(self) -> None:
        r = self.result
        if r.verdict is not None:  # no table (dut.kind none): the traffic proof diagnoses
            r.diagnosis = diagnose(r.verdict, r.expected, counter_deltas=r.counter_deltas,
                                   tcp_loose=r.health_after.tcp_loose, notes=r.gateway_changes + traffic_notes(r),
                                   plan=r.plan, sent_order=r.sent_order)

    # ------------------------------------------------------------------ faults and clean-up
    def _stop_poller(self) -> None:
        if self._poller is not None:
            if self._poller.is_alive():
                self._poller.stop()
            self.result.peak_count = self._poller.peak
            self._poller = None

    def _release(self) -> None:
        self._stop_poller()
        if self._dut_clear is not None:  # a fault came while the DUT was cleared: its error is not the run's
            self._dut_clear.join_quietly()
        with self._timed("cleanup"):
            release_all(self.ports, self.drones, self.result.warnings)
            close_quietly(self.dut)


__all__ = ["Runner", "precheck"]
