"""The main job: configure Drone, send the handshakes in order, verify on the DUT, clean up.

Order of work (every step is checked before the next):

1. SSH to the DUT, read its capacity and timeouts, make the plan (refused here,
   before anything is sent, when it cannot work);
2. connect to the Drone(s), find ports A and B, refuse ports that hold enabled
   streams the tool did not create;
3. clear the test's old entries on the DUT;
4. emulated devices on both ports; resolve and poll until every device has the
   gateway's MAC;
5. per batch: streams, pre-build on every port (``build``), start A, wait the
   delay, start B (or the three phases), follow progress, check each port kept
   its rate;
6. dump and judge the DUT's entries; diagnose;
7. always: stop what was started, delete the streams and device groups created.

The core never prints: progress goes to :class:`RunEvents`, results to
:class:`RunResult`.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from .drone import DroneApi, check_backend, open_drone
from .dut import Dut, DutShell, Expected, Health, SshTarget, diagnose
from .dut.verdict import Verdict
from ._signals import shielded
from .errors import (DroneError, DroneRpcError, DutError, OstinatoTcpError, RunFault, SshDroppedError,
                     UnknownPortError, UsageError)
from .ownership import OWNER_RE, PortClaim, owner_is_gone, owner_tag
from .plan import DutFacts, Plan, make_plan
from .scenario import Scenario
from .streams import NAME_PREFIX, client_streams, device_group, runs_from_learned, server_runs, server_streams
from .tuples import Batch, StreamFields

log = logging.getLogger(__name__)
ARP_TIMEOUT = 6.0


class RunEvents:
    """Hooks for progress, reports and history. The default does nothing."""

    def phase(self, name: str, detail: str = "") -> None:
        pass

    def planned(self, plan: Plan) -> None:
        pass

    def batch_started(self, batch: Batch, total_batches: int) -> None:
        pass

    def progress(self, sent_a: int, sent_b: int, expected_a: int, expected_b: int, ct_count: int | None) -> None:
        pass

    def finished(self, sent_a: int, sent_b: int, expected_a: int, expected_b: int) -> None:
        """All batches sent; Drone's counters have settled."""


@dataclass
class RunOptions:
    force: bool = False
    drone_backend: str = "builtin"
    accept_new_host_key: bool = False
    dut_password: str | None = None
    poll_interval: float | None = None  # overrides dut.poll_interval
    disable_stream: str | None = None  # "synack" or "ack": a deliberately lost leg (for diagnosis tests)
    rpc_timeout: float = 15.0
    take_over_ports: bool = False  # use ports holding foreign streams; they are disabled, then restored


@dataclass
class PortReport:
    name: str
    drone: str
    expected_packets: int = 0
    sent_packets: int = 0
    send_seconds: float = 0.0
    planned_seconds: float = 0.0
    lagged: bool = False

    @property
    def achieved_rate(self) -> float:
        return self.sent_packets / self.send_seconds if self.send_seconds > 0 else 0.0


@dataclass
class RunResult:
    scenario: Scenario
    plan: Plan | None = None
    verdict: Verdict | None = None
    expected: Expected | None = None
    health_before: Health | None = None
    health_after: Health | None = None
    timings: dict[str, float] = field(default_factory=dict)
    ports: dict[str, PortReport] = field(default_factory=dict)
    diagnosis: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dump: dict = field(default_factory=dict)
    drone_versions: dict[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    delays: list[float] = field(default_factory=list)  # measured A->B start offsets
    error: str | None = None  # the traffic was sent but the DUT could not be read

    @property
    def passed(self) -> bool:
        return self.error is None and self.verdict is not None and self.verdict.passed

    @property
    def exit_code(self) -> int:
        if self.error:
            return 3
        return 0 if self.passed else 1

    @property
    def counter_deltas(self) -> dict[str, int]:
        if self.health_before and self.health_after:
            return self.health_before.deltas(self.health_after)
        return {}


@dataclass
class _Port:
    side: str
    name: str
    drone: DroneApi
    drone_key: str
    id: int
    streams: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    started: bool = False
    baseline_tx: int = 0
    claim: PortClaim | None = None


class _Background(threading.Thread):
    """Runs one function beside the main thread; ``join()`` re-raises its error."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.error = fn, None
        self.start()

    def run(self) -> None:
        try:
            self.fn()
        except BaseException as exc:  # handed to join()
            self.error = exc

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


class _DutPoller(threading.Thread):
    """Polls the DUT's conntrack count over its own SSH channel, off the timing path."""

    def __init__(self, dut: Dut, interval: float):
        super().__init__(daemon=True, name="dut-poller")
        self.dut, self.interval = dut, interval
        self.count: int | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.count = self.dut.count()
            except OstinatoTcpError as exc:
                log.debug("conntrack count poll failed: %s", exc)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()


def precheck(sc: Scenario) -> None:
    """Refuse what no DUT could make work (delay window, margins, layout), before any
    connection to Drone or the DUT: the plan with unlimited DUT timeouts and capacity."""
    make_plan(sc, DutFacts(syn_sent_timeout=10**9, syn_recv_timeout=10**9, source="precheck"))


def connect_dut(sc: Scenario, opts: RunOptions) -> Dut:
    shell = DutShell(SshTarget.from_scenario(sc.dut, accept_new_host_key=opts.accept_new_host_key,
                                             password=opts.dut_password)).connect()
    return Dut(shell, compress=sc.dut.compress, conntrack=sc.dut.conntrack)


def plan_with_dut(sc: Scenario, dut: Dut | None, *, force: bool = False) -> tuple[Plan, Health | None]:
    health = dut.health() if dut is not None else None
    facts = health.facts(f"read from the DUT {dut.shell.where}") if health else None
    return make_plan(sc, facts, force=force), health


def expected_for(plan: Plan) -> Expected:
    sc = plan.scenario
    return Expected(space=plan.space, nat_mode=sc.nat.mode,
                    nat_address=str(sc.nat.address) if sc.nat.address else None,
                    require_assured=sc.expect.assured)


class Runner:
    def __init__(self, sc: Scenario, opts: RunOptions | None = None, events: RunEvents | None = None):
        self.sc = sc
        self.opts = opts or RunOptions()
        self.ev = events or RunEvents()
        self.result = RunResult(scenario=sc)
        self.drones: dict[str, DroneApi] = {}
        self.ports: dict[str, _Port] = {}
        self.dut: Dut | None = None
        self._poller: _DutPoller | None = None
        self.owner = owner_tag(sc.name)

    # ------------------------------------------------------------------ top level
    def run(self) -> RunResult:
        r = self.result
        t_start = time.monotonic()
        r.timings.update(build=0.0, send=0.0)
        try:
            check_backend(self.opts.drone_backend)
            if not self.opts.force:
                precheck(self.sc)
            self.ev.phase("plan", "reading the DUT and planning")
            with self._timed("plan"):
                self.dut = connect_dut(self.sc, self.opts)
                r.plan, r.health_before = plan_with_dut(self.sc, self.dut, force=self.opts.force)
            r.warnings.extend(r.plan.warnings)
            r.expected = expected_for(r.plan)
            self.ev.planned(r.plan)
            self.ev.phase("configure", "connecting to Drone and configuring ports")
            with self._timed("configure"):
                self._connect_drones()
                self._claim_ports()
                # The DUT deletes old entries one by one: do it while Drone configures and resolves.
                self.ev.phase("clear", f"clearing the test's entries on the DUT ({self.sc.dut.clear})")
                clear = _Background(lambda: self.dut.clear(self.sc.connections.server_ip,
                                                           self.sc.connections.server_port, self.sc.dut.clear))
                try:
                    self._configure_devices()
                finally:
                    clear.join()
                self._baseline()
            self._start_poller()
            for batch in r.plan.batches:
                self.ev.batch_started(batch, len(r.plan.batches))
                self._run_batch(batch)
            self._stop_poller()
            self.ev.phase("verify", "dumping the DUT's conntrack table and judging every connection")
            # Drone's counters lag the end of transmit by up to a second: let them settle
            # while the DUT is read.
            settle = _Background(self._settle_counters)
            with self._timed("verify"):
                try:
                    self._read_dut()
                finally:
                    settle.join()
            if r.error:
                return r
            r.timings["dump"] = r.dump.get("seconds", 0.0)
            r.diagnosis = diagnose(r.verdict, r.expected, counter_deltas=r.counter_deltas,
                                   tcp_loose=r.health_after.tcp_loose, notes=self._run_notes())
            return r
        except BaseException:
            with shielded():
                self._stop_everything()
            raise
        finally:
            with shielded():  # a signal now waits until the clean-up is done
                self._stop_poller()
                with self._timed("cleanup"):
                    self._cleanup()
                r.timings["total"] = time.monotonic() - t_start
                r.timings["overhead"] = r.timings["total"] - (r.timings["build"] + r.timings["send"]
                                                              + r.timings.get("dump", 0.0))
                if self.dut is not None:
                    self.dut.shell.close()

    def _read_dut(self) -> None:
        """Counters and the dump after the traffic. A dropped SSH connection is retried once;
        after that the run ends with ``error`` set and the traffic figures still reported."""
        r = self.result
        for attempt in (1, 2):
            try:
                r.health_after = self.dut.health()
                r.verdict, r.dump = self.dut.verify(r.expected)
                return
            except SshDroppedError as exc:
                if attempt == 2:
                    r.error = f"the DUT could not be read after the traffic was sent (SSH dropped twice): {exc}"
                    return
                r.warnings.append(f"SSH to the DUT dropped while reading it ({exc}); reconnected and read it again")
                try:
                    self.dut.shell.reconnect()
                except DutError as again:
                    r.error = f"the DUT could not be read after the traffic was sent: {exc}; reconnecting: {again}"
                    return

    @contextmanager
    def _timed(self, key: str):
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.result.timings[key] = self.result.timings.get(key, 0.0) + time.monotonic() - t0

    # ------------------------------------------------------------------ Drone setup
    def _connect_drones(self) -> None:
        for side in ("a", "b"):
            spec = getattr(self.sc.ports, side)
            key = spec.drone
            if key not in self.drones:
                ep = self.sc.drones[key]
                try:
                    self.drones[key] = open_drone(ep.host, ep.port, backend=self.opts.drone_backend,
                                                  timeout=self.opts.rpc_timeout)
                except DroneError as exc:
                    raise type(exc)(f"drones.{key}: {exc}") from None
                self.result.drone_versions[key] = self.drones[key].drone_version or "unknown"
            drone = self.drones[key]
            try:
                port_id = drone.find_port(spec.interface)
            except UnknownPortError as exc:
                raise UnknownPortError(f"ports.{side}.interface: {exc}") from None
            self.ports[side] = _Port(side=side, name=spec.interface, drone=drone, drone_key=key, id=port_id)
            self.result.ports[side] = PortReport(name=spec.interface, drone=drone.endpoint)

    def _claim_ports(self) -> None:
        """Check every port is free for the run, then tag it (see :mod:`ownership`)."""
        for p in self.ports.values():
            p.claim = PortClaim(drone=p.drone, port_id=p.id, name=p.name, tag=self.owner)
            p.claim.claim(take_over=self.opts.take_over_ports)
            self.result.warnings.extend(p.claim.warnings)

    def _free_ids(self, p: _Port, kind: str, count: int) -> list[int]:
        pb = p.drone.pb
        if kind == "stream":
            used = {s.id for s in p.drone.getStreamIdList(pb.PortId(id=p.id)).stream_id}
        else:
            used = {g.id for g in p.drone.getDeviceGroupIdList(pb.PortId(id=p.id)).device_group_id}
        out, i = [], max(used, default=0) + 1
        while len(out) < count:
            if i not in used:
                out.append(i)
            i += 1
        return out

    def _configure_devices(self) -> None:
        sc, sp = self.sc, self.result.plan.space
        c = sc.connections
        for side, ip_base, count in (("a", sp.first_ip, sp.ip_count), ("b", int(c.server_ip), 1)):
            p = self.ports[side]
            dev = getattr(sc.ports, side).device
            pb, emul = p.drone.pb, p.drone.emul
            (gid,) = self._free_ids(p, "group", 1)
            p.drone.addDeviceGroup(p.drone.device_group_id_list(p.id, [gid]))
            p.groups.append(gid)
            p.drone.modifyDeviceGroup(device_group(
                pb, emul, port_id=p.id, group_id=gid, name=f"{NAME_PREFIX}{sc.name}:{side}", ip_base=ip_base,
                count=count, prefix=dev.prefix, gateway=int(dev.gateway), mac_base=dev.mac_int()))
        self.ev.phase("arp", "resolving the DUT's gateways from the emulated devices")
        self._resolve_all()

    def _targets(self, p: _Port) -> set[int]:
        sp = self.result.plan.space
        if p.side == "a":
            return set(range(sp.first_ip, sp.first_ip + sp.ip_count))
        return {int(self.sc.connections.server_ip)}

    def _ask_resolve(self) -> None:
        """One resolveDeviceNeighbors per Drone for all its ports (Drone waits ~0.5 s in it)."""
        by_drone: dict[str, list[_Port]] = {}
        for p in self.ports.values():
            by_drone.setdefault(p.drone_key, []).append(p)
        for ports in by_drone.values():
            ports[0].drone.resolveDeviceNeighbors(ports[0].drone.port_id_list([p.id for p in ports]))

    def _unresolved(self, p: _Port) -> set[int]:
        gw = int(getattr(self.sc.ports, p.side).device.gateway)
        pb, emul = p.drone.pb, p.drone.emul
        devices = p.drone.getDeviceList(pb.PortId(id=p.id)).Extensions[emul.device]
        index_ip = {i: d.ip4 for i, d in enumerate(devices)}
        nbrs = p.drone.getDeviceNeighbors(pb.PortId(id=p.id)).Extensions[emul.device_neighbor]
        resolved = {index_ip.get(dn.device_index) for dn in nbrs if any(e.ip4 == gw and e.mac for e in dn.arp)}
        return self._targets(p) - resolved

    def _resolve_all(self) -> None:
        """Resolve, then poll until every emulated device knows its gateway's MAC."""
        deadline = time.monotonic() + ARP_TIMEOUT
        next_ask = 0.0
        pending = dict(self.ports)
        while pending:
            now = time.monotonic()
            if now >= next_ask:  # Drone's resolve waits only briefly: ask again each second
                self._ask_resolve()
                next_ask = time.monotonic() + 1.0
            missing = {}
            for side, p in pending.items():
                left = self._unresolved(p)
                if left:
                    missing[side] = left
            pending = {side: self.ports[side] for side in missing}
            if not pending:
                return
            if time.monotonic() > deadline:
                side, left = next(iter(missing.items()))
                p, dev = self.ports[side], getattr(self.sc.ports, side).device
                sample = ", ".join(str(ipaddress.IPv4Address(i)) for i in sorted(left)[:3])
                raise RunFault(f"port {p.name} (Drone {p.drone.endpoint}): the gateway {dev.gateway} did not answer "
                               f"ARP for {len(left)} emulated device(s) ({sample}) within {ARP_TIMEOUT:g} s: check "
                               f"the cabling to the DUT, the DUT's address {dev.gateway}/{dev.prefix} on that link, "
                               f"and ports.{side}.device")
            time.sleep(0.05)

    def _baseline(self) -> None:
        # Counters may lag by up to a second (ARP frames just sent): the sent counts can
        # come out a few packets high, never low.
        for p in self.ports.values():
            p.baseline_tx = p.drone.stats([p.id])[p.id].tx_pkts

    # ------------------------------------------------------------------ streams
    def _apply_streams(self, batch: Batch, *, syn: bool, ack: bool) -> None:
        sc, sp = self.sc, self.result.plan.space
        fields = sp.stream_fields(batch)
        a = self.ports["a"]
        if not a.streams:
            a.streams = self._free_ids(a, "stream", 2)
            a.drone.addStream(a.drone.stream_id_list(a.id, a.streams))
        if self.opts.disable_stream == "ack":
            ack = False
        a.drone.modifyStream(client_streams(a.drone.pb, sc, port_id=a.id, syn_id=a.streams[0], ack_id=a.streams[1],
                                            fields=fields, syn_enabled=syn, ack_enabled=ack))
        nat_ip = int(sc.nat.address) if sc.nat.mode == "preserve-ports" else None
        self._set_server_runs(server_runs(fields, nat_ip))

    def _set_server_runs(self, runs: list[StreamFields]) -> None:
        b = self.ports["b"]
        pb = b.drone.pb
        if len(b.streams) != len(runs):
            if b.streams:
                b.drone.deleteStream(b.drone.stream_id_list(b.id, b.streams))
                b.streams = []
            b.streams = self._free_ids(b, "stream", len(runs))
            b.drone.addStream(b.drone.stream_id_list(b.id, b.streams))
        cfg = server_streams(pb, self.sc, port_id=b.id, stream_ids=b.streams, runs=runs)
        if self.opts.disable_stream == "synack":
            for s in cfg.stream:
                s.core.is_enabled = False
        b.drone.modifyStream(cfg)

    def _build(self, *ports: _Port) -> None:
        t0 = time.monotonic()
        plan = self.result.plan
        for p in ports:
            packets = plan.space.batch_size * (2 if p.side == "a" else 1)
            timeout = max(60.0, 10 * packets * self.sc.traffic.build_seconds_per_packet)
            bc = p.drone.pb.BuildConfig()
            bc.port_id.id = p.id
            try:
                p.drone.build(bc, timeout=timeout)
            except DroneRpcError as exc:
                if "resolve" not in str(exc).lower():
                    raise
                nat = self.sc.nat
                hint = (f" The SYN-ACKs go to nat.address {nat.address}, which is on port B's link: nothing answers "
                        "ARP for it, so it is not the address the DUT translates to"
                        if p.side == "b" and nat.mode == "preserve-ports" else
                        " Check that the DUT answers ARP for the destination or gateway of that port's packets")
                raise RunFault(f"port {p.name}: Drone could not resolve a destination MAC ({exc}).{hint}") from None
        self.result.timings["build"] += time.monotonic() - t0

    # ------------------------------------------------------------------ sending
    def _start(self, p: _Port) -> float:
        p.started = True  # before the RPC: a start whose reply is lost must still be stopped
        p.drone.startTransmit(p.drone.port_id_list([p.id]))
        return time.monotonic()

    def _follow(self, active: dict[str, float], expected: dict[str, int], planned: dict[str, float],
                start_b_at: float | None = None) -> dict[str, float]:
        """Poll until every port in ``active`` (side -> start time) stops; start B at
        ``start_b_at`` if given. Returns side -> measured send seconds."""
        done: dict[str, float] = {}
        limit = max(planned.values(), default=0) * 3 + 30
        t_begin = time.monotonic()
        while True:
            now = time.monotonic()
            if start_b_at is not None and now >= start_b_at:
                t_a = active["a"]
                active["b"] = self._start(self.ports["b"])
                self.result.delays.append(active["b"] - t_a)
                start_b_at = None
            sent = {}
            for side, t_started in list(active.items()):
                p = self.ports[side]
                st = p.drone.stats([p.id])[p.id]
                sent[side] = st.tx_pkts - p.baseline_tx
                if side not in done and not st.state.is_transmit_on:
                    done[side] = time.monotonic() - t_started
            self.ev.progress(sent.get("a", 0), sent.get("b", 0), expected.get("a", 0), expected.get("b", 0),
                             self._poller.count if self._poller else None)
            if start_b_at is None and all(s in done for s in active):
                return done
            if time.monotonic() - t_begin > limit:
                raise RunFault(f"ports still transmitting {limit:.0f} s after start (planned "
                               f"{max(planned.values()):.1f} s): Drone is far slower than the plan")
            wait = 0.1 if start_b_at is None else max(0.0, min(0.1, start_b_at - time.monotonic()))
            time.sleep(wait)

    def _run_batch(self, batch: Batch) -> None:
        plan, r = self.result.plan, self.result
        m, rate = batch.count, plan.rate
        a, b = self.ports["a"], self.ports["b"]
        t0, build0 = time.monotonic(), r.timings["build"]
        if plan.mode == "pipelined":
            self._apply_streams(batch, syn=True, ack=True)
            self._build(a, b)
            self.ev.phase("send", f"batch {batch.index + 1}: SYNs and ACKs on {a.name}, SYN-ACKs on {b.name} "
                                  f"after {plan.delay:.3f} s")
            t_a = self._start(a)
            done = self._follow({"a": t_a}, {"a": 2 * m, "b": m}, {"a": 2 * m / rate, "b": m / rate},
                                start_b_at=t_a + plan.delay)
            self._account(batch, done, {"a": 2 * m, "b": m}, {"a": 2 * m / rate, "b": m / rate})
        else:
            self._apply_streams(batch, syn=True, ack=False)
            learn = self.sc.nat.mode == "learn"
            if learn:
                self._build(a)  # B's SYN-ACKs wait for the learned translations
            else:
                self._build(a, b)
            self.ev.phase("send", f"batch {batch.index + 1}: phase 1/3, SYNs on {a.name}")
            done1 = self._follow({"a": self._start(a)}, {"a": m}, {"a": m / rate})
            if learn:
                self._learn(batch)
                self._build(b)
            self.ev.phase("send", f"batch {batch.index + 1}: phase 2/3, SYN-ACKs on {b.name}")
            done2 = self._follow({"b": self._start(b)}, {"b": m}, {"b": m / rate})
            fields = plan.space.stream_fields(batch)
            a.drone.modifyStream(client_streams(a.drone.pb, self.sc, port_id=a.id, syn_id=a.streams[0],
                                                ack_id=a.streams[1], fields=fields, syn_enabled=False,
                                                ack_enabled=self.opts.disable_stream != "ack"))
            self._build(a)
            self.ev.phase("send", f"batch {batch.index + 1}: phase 3/3, ACKs on {a.name}")
            done3 = self._follow({"a": self._start(a)}, {"a": m}, {"a": m / rate})
            self._account(batch, {"a": done1["a"] + done3["a"], "b": done2["b"]}, {"a": 2 * m, "b": m},
                          {"a": 2 * m / rate, "b": m / rate})
        # send time: from the first start to the last port done, Drone's builds excluded
        r.timings["send"] += (time.monotonic() - t0) - (r.timings["build"] - build0)

    def _learn(self, batch: Batch) -> None:
        """NAT learn: the SYN_SENT entries' reply tuples become the SYN-ACK destinations."""
        exp = self.result.expected
        self.ev.phase("learn", "reading the DUT's SYN_SENT entries to learn the NAT's translations")
        learned, odd = self.dut.learn_replies(exp)
        pairs = []
        for n in range(batch.first, batch.first + batch.count):
            if exp.learned_ip[n]:
                pairs.append((exp.learned_ip[n], exp.learned_port[n]))
        if len(pairs) < batch.count:
            self.result.warnings.append(f"NAT learn: {batch.count - len(pairs)} of {batch.count} connections had no "
                                        "SYN_SENT entry to learn from; no SYN-ACK is sent for them")
        if odd:
            self.result.warnings.append("NAT learn: the DUT changed some client ports, e.g. " + "; ".join(odd[:3]))
        runs = runs_from_learned(pairs) or [StreamFields(0, 0, 1, 1, 1, 1)]  # nothing to answer
        if len(runs) > 4096:
            raise RunFault(f"NAT learn: the translations form {len(runs)} port runs; more than 4096 SYN-ACK streams "
                           "would be needed. The NAT randomises ports (--random-fully?); this mode needs "
                           "translations that mostly keep or shift ports")
        self._set_server_runs(runs)
        if len(runs) > 1:
            self.result.warnings.append(f"NAT learn: {len(pairs)} translations learned, sent as {len(runs)} "
                                        "SYN-ACK streams")

    def _account(self, batch: Batch, done: dict[str, float], expected: dict[str, int],
                 planned: dict[str, float]) -> None:
        tol = self.sc.traffic.rate_tolerance
        for side in ("a", "b"):
            rep = self.result.ports[side]
            rep.expected_packets += expected[side]
            rep.send_seconds += done.get(side, 0.0)
            rep.planned_seconds += planned[side]
            if done.get(side, 0.0) > planned[side] * (1 + tol) + 0.25:
                rep.lagged = True

    def _settle_counters(self) -> None:
        for side, p in self.ports.items():
            rep = self.result.ports[side]
            st = p.drone.settled_stats([p.id], expected_tx={p.id: p.baseline_tx + rep.expected_packets},
                                       timeout=3.0)
            rep.sent_packets = st[p.id].tx_pkts - p.baseline_tx
        a, b = self.result.ports["a"], self.result.ports["b"]
        self.ev.finished(a.sent_packets, b.sent_packets, a.expected_packets, b.expected_packets)

    def _run_notes(self) -> list[str]:
        notes = []
        plan = self.result.plan
        if plan.forced and plan.problems:
            notes.append("the plan was forced past its checks: " + " | ".join(plan.problems))
        for side, rep in self.result.ports.items():
            if rep.lagged:
                notes.append(f"port {side.upper()} ({rep.name}) took {rep.send_seconds:.2f} s for what was planned "
                             f"in {rep.planned_seconds:.2f} s ({rep.achieved_rate:.0f} packets/s against "
                             f"{plan.rate:g} planned): a lagging port breaks the SYN / SYN-ACK / ACK order")
            if rep.sent_packets < rep.expected_packets:
                notes.append(f"port {side.upper()} ({rep.name}) sent {rep.sent_packets} of "
                             f"{rep.expected_packets} packets")
        if plan.mode == "pipelined" and self.result.delays:
            worst = max(abs(d - plan.delay) for d in self.result.delays)
            if worst > max(0.05, plan.delay * 0.2):
                notes.append(f"port B started up to {worst:.3f} s off the planned delay {plan.delay:.3f} s")
        return notes

    # ------------------------------------------------------------------ poller
    def _start_poller(self) -> None:
        interval = self.opts.poll_interval if self.opts.poll_interval is not None else self.sc.dut.poll_interval
        if interval and interval > 0 and self.dut is not None:
            self._poller = _DutPoller(self.dut, interval)
            self._poller.start()

    def _stop_poller(self) -> None:
        if self._poller is not None:
            self._poller.stop()
            self._poller.join(timeout=5)
            self._poller = None

    # ------------------------------------------------------------------ faults and cleanup
    def _stop_everything(self) -> None:
        """Stop transmit on every port this run started (a fault must not leave traffic
        running). A port it never started is left alone: it may be another run's."""
        for p in self.ports.values():
            if not p.started:
                continue
            try:
                if not p.drone.connected:
                    p.drone.connect()
                p.drone.stopTransmit(p.drone.port_id_list([p.id]))
            except (OstinatoTcpError, OSError) as exc:
                log.warning("could not stop transmit on %s: %s", p.name, exc)

    def _cleanup(self) -> None:
        leftovers = []
        for p in self.ports.values():
            try:
                if not p.drone.connected:
                    p.drone.connect()
                if p.streams:
                    p.drone.deleteStream(p.drone.stream_id_list(p.id, p.streams))
                    p.streams = []
                if p.groups:
                    p.drone.deleteDeviceGroup(p.drone.device_group_id_list(p.id, p.groups))
                    p.groups = []
            except (OstinatoTcpError, OSError) as exc:
                leftovers.append(f"{p.name}: {exc}")
            if p.claim is not None:
                try:
                    if not p.drone.connected:
                        p.drone.connect()
                except (OstinatoTcpError, OSError):
                    pass
                self.result.warnings.extend(p.claim.release())
        for d in self.drones.values():
            try:
                d.disconnect()
            except (OstinatoTcpError, OSError):
                pass
        if leftovers:
            self.result.warnings.append("could not remove what the run created on Drone ("
                                        + "; ".join(leftovers) + "); 'ostinato-tcp cleanup SCENARIO' removes it")


def run_scenario(sc: Scenario, opts: RunOptions | None = None, events: RunEvents | None = None) -> RunResult:
    return Runner(sc, opts, events).run()


def cleanup_leftovers(sc: Scenario, *, backend: str = "builtin", force: bool = False) -> list[str]:
    """Remove streams and device groups named by ostinato-tcp for this scenario from its ports.
    A port tagged by a run that may still be going is refused unless ``force``."""
    removed = []
    prefix = f"{NAME_PREFIX}{sc.name}:"
    for side in ("a", "b"):
        spec = getattr(sc.ports, side)
        ep = sc.drones[spec.drone]
        with open_drone(ep.host, ep.port, backend=backend) as drone:
            pb = drone.pb
            port = drone.find_port(spec.interface)
            owner = drone.port_config(port).user_name
            if OWNER_RE.match(owner or "") and not owner_is_gone(owner) and not force:
                raise UsageError(f"port {spec.interface} on Drone {drone.endpoint} is in use by {owner}; cleanup "
                                 "would delete that run's streams. Wait for it, or pass --force if it is gone")
            sids = drone.getStreamIdList(pb.PortId(id=port))
            if sids.stream_id:
                mine = [s.stream_id.id for s in drone.getStreamConfig(sids).stream if s.core.name.startswith(prefix)]
                if mine:
                    drone.deleteStream(drone.stream_id_list(port, mine))
                    removed.append(f"{len(mine)} stream(s) on {spec.interface}")
            gids = drone.getDeviceGroupIdList(pb.PortId(id=port))
            if gids.device_group_id:
                cfgs = drone.getDeviceGroupConfig(gids).device_group
                mine = [g.device_group_id.id for g in cfgs if g.core.name.startswith(prefix)]
                if mine:
                    drone.deleteDeviceGroup(drone.device_group_id_list(port, mine))
                    removed.append(f"{len(mine)} device group(s) on {spec.interface}")
            if owner_is_gone(owner) or (force and OWNER_RE.match(owner or "")):
                drone.modify_port(port, user_name="")
                removed.append(f"the tag of a run that is gone on {spec.interface} ({owner!r})")
    return removed


__all__ = ["RunEvents", "RunOptions", "RunResult", "Runner", "cleanup_leftovers", "connect_dut", "expected_for",
           "plan_with_dut", "run_scenario"]
