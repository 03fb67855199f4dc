"""``ostinato-tcp check``: a preflight of a lab and a scenario that sends no TCP.

One line per check, OK / WARN / FAIL with the fix. The DUT first (SSH and its host key,
conntrack, forwarding, tcp_loose, timeouts, table capacity and hash load, timestamps),
then each Drone and port (reachable, version, the port exists, its link is up, it is free),
then what needs both: the emulated devices resolve the DUT gateways' MACs (ARP only), and
one ICMP echo from a client address to the server, through the DUT, must leave a
conntrack entry there (forwarded packets are tracked; the entry is deleted at once), and
last the plan. Exit 0 (OK or WARN), 2 (a check failed that the user must fix), 3 (Drone
or the DUT unreachable).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import asdict, dataclass, field, replace

from ostinato_tcp.domain.ceiling import CEILING_USE
from ostinato_tcp.domain.hash_chains import CHAIN_REFUSE, CHAIN_WARN, forecast
from ostinato_tcp.domain.plan import HASH_LOAD_WARN, hash_load, make_plan
from ostinato_tcp.domain.streams import client_devices, server_devices
from ostinato_tcp.drone import DroneApi
from ostinato_tcp.drone.port import DronePort
from ostinato_tcp.dut.commands import PROC_TABLE as C_PROC
from ostinato_tcp.dut.contract import refuse_deletes
from ostinato_tcp.errors import EXIT_INFRA, EXIT_OK, EXIT_USAGE, DroneError, DutError, OstinatoTcpError, UsageError
from ostinato_tcp.ground.addr import mac_text
from ostinato_tcp.ground.naming import object_name, owner_tag
from ostinato_tcp.run.connect import ARP_TIMEOUT, Openers, connect_drone, find_port, resolve
from ostinato_tcp.run.dut_phases import plan_facts
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.run.probe import probe_drones, probe_servers
from ostinato_tcp.run.probe_cache import BuildCheckCache
from ostinato_tcp.scenario import Scenario

OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"  # SKIP: not checked, an earlier FAIL says why
LINK_UP = 2  # PortState.link_state LinkStateUp


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""
    exit_code: int = EXIT_OK  # what a FAIL means: 2 (the user must fix it) or 3 (unreachable)

    def line(self) -> str:
        return f"{self.status:<4}  {self.name}: {self.detail}" + (f". Fix: {self.fix}" if self.fix else "")


@dataclass
class CheckReport:
    scenario: str
    checks: list[Check] = field(default_factory=list)
    ceiling: dict | None = None  # Drone's send ceiling as measured (probe.Ceiling.to_dict)

    def add(self, name: str, status: str, detail: str, fix: str = "", exit_code: int = EXIT_USAGE) -> Check:
        c = Check(name, status, detail, fix, exit_code if status == FAIL else EXIT_OK)
        self.checks.append(c)
        return c

    @property
    def exit_code(self) -> int:
        codes = [c.exit_code for c in self.checks if c.status == FAIL]
        return EXIT_INFRA if EXIT_INFRA in codes else (EXIT_USAGE if codes else EXIT_OK)

    def to_dict(self) -> dict:
        return {"scenario_name": self.scenario, "exit_code": self.exit_code, "checks": [asdict(c) for c in self.checks],
                "ceiling": self.ceiling}


def check(sc: Scenario, opts: RunOptions, openers: Openers | None = None) -> CheckReport:
    """The preflight of ``sc``: one :class:`Check` per item (module doc); sends no TCP of the test."""
    openers = openers or Openers()
    if sc.pair_count > 1:  # each port pair checked as its own run would be
        rep = CheckReport(sc.name)
        for i, sub in enumerate(sc.pair_scenarios()):
            rep.checks += [replace(c, name=f"pair {i + 1}: {c.name}") for c in check(sub, opts, openers).checks]
        return rep
    rep = CheckReport(sc.name)
    facts = _check_dut(sc, opts, rep, openers)
    ports = _check_drones(sc, opts, rep, openers)
    ceiling = None
    if ports:
        try:
            ceiling = _check_paths(sc, opts, rep, ports, openers, dut_ok=facts is not None,
                                   free=facts.free_entries if facts is not None else None)
        finally:
            for p in ports.values():
                p.release()
            for d in {id(p.drone): p.drone for p in ports.values()}.values():
                d.disconnect()
    try:
        plan = make_plan(sc, facts, force=True, ceiling=ceiling)
        rep.ceiling = ceiling.to_dict() if ceiling is not None else None
        # the "DUT table" and "Drone send ceiling" lines have those
        problems = [p for p in plan.problems if p not in (plan.capacity_problem, plan.rate_problem)]
        if problems:
            rep.add("plan", FAIL, " | ".join(problems), "see 'ostinato-tcp plan' for the timing")
        else:
            rep.add("plan", OK, f"{plan.mode}, {len(plan.timings)} batch(es) of {plan.space.batch_size:,}, about "
                                f"{plan.expected_seconds:.0f} s of build and send")
    except OstinatoTcpError as exc:
        rep.add("plan", FAIL, str(exc))
    return rep


def _check_dut(sc: Scenario, opts: RunOptions, rep: CheckReport, openers: Openers):
    try:
        dut = openers.open_dut(sc, opts)
    except UsageError as exc:
        rep.add("DUT SSH", FAIL, str(exc))
        return None
    except DutError as exc:
        rep.add("DUT SSH", FAIL, str(exc), exit_code=EXIT_INFRA)
        return None
    if not dut.reads_table:  # dut.kind none: nothing to log into or read
        rep.add("DUT driver", OK, "none (dut.kind: none): the DUT is not read; a run's verdict rests on the traffic "
                                  "proof alone, and the plan takes the kernel's default timeouts")
        return plan_facts(dut, dut.health(), sc)
    with dut:
        rep.add("DUT SSH", OK, f"{dut.where}, host key verified" + (
            f", through {len(sc.dut.jump)} jump host(s)" if sc.dut.jump else "") + (
            f", namespace {sc.dut.netns}" if sc.dut.netns else ""))
        rep.add("DUT driver", OK, f"{dut.kind} ({dut.chosen or 'dut.kind'})"
                + ("" if dut.can_delete else "; read only: deletes nothing"))
        try:
            refuse_deletes(dut, sc)
        except UsageError as exc:
            rep.add("DUT driver", FAIL, str(exc))
        try:
            h = dut.health()
        except DutError as exc:
            rep.add("DUT conntrack", FAIL, str(exc), exit_code=EXIT_INFRA)
            return None
        if dut.kind == "ovs":
            _check_ovs(dut, h, rep)
        else:
            _check_kernel(dut, h, sc, rep)
        rep.add("DUT timeouts", OK, f"SYN_SENT {h.syn_sent_timeout} s, SYN_RECV {h.syn_recv_timeout} s, ESTABLISHED "
                                    f"{h.established_timeout} s" + (" (the userspace datapath's default timeout "
                                    "policy: a zone's own policy is not read)" if dut.kind == "ovs" else ""))
        facts = plan_facts(dut, h, sc)  # the test's own entries count as free when dut.clear removes them
        own, free = facts.own_entries, facts.free_entries or 0
        n = sc.connections.count
        limit = "ct-get-maxconns" if dut.kind == "ovs" else "nf_conntrack_max"
        detail = (f"{limit} {h.max}, {h.count} in use" + (f" ({own} of them the test's own, which dut.clear "
                  "test removes)" if own else "") + f": {free} free for {n}")
        if n > free:
            rep.add("DUT table", FAIL, detail, ("ovs-appctl dpctl/ct-set-maxconns N" if dut.kind == "ovs" else
                                                "raise net.netfilter.nf_conntrack_max") + " on the DUT, clear "
                                               "entries, or lower connections.count")
        else:
            rep.add("DUT table", OK, detail)
        load = hash_load(facts, n)
        chains = forecast(facts.entries_after_clear, n, h.buckets) if load is not None else None
        if chains is not None and chains.expected_refused >= CHAIN_WARN:
            rep.add("DUT hash chains", FAIL if chains.expected_refused >= CHAIN_REFUSE else WARN,
                    f"{h.buckets} buckets: a mean chain of {chains.mean_at_end:.1f} (2 x entries / buckets) at the "
                    f"end; the kernel's chain limit is expected to refuse {chains.expected_refused:.3g} insert(s) "
                    "(chaintoolong)", f"set net.netfilter.nf_conntrack_buckets to {chains.buckets_needed:,} or more")
        if load is not None:
            if load > HASH_LOAD_WARN:
                rep.add("DUT hash table", WARN, f"{h.buckets} buckets: {load:.1f} entries per bucket at the end of "
                                                "the run (slower inserts, more reordering at high rates; the plan "
                                                "widens its ordering margins for it)",
                        "raise net.netfilter.nf_conntrack_buckets (or the module's hashsize) to about "
                        f"{((facts.entries_after_clear or 0) + n) // 2:,}")
            else:
                rep.add("DUT hash table", OK, f"{h.buckets} buckets: {load:.1f} entries per bucket at the end")
        if dut.kind == "ovs":
            rep.add("DUT timestamps", OK, "Open vSwitch's entries carry no age: freshness is proven by reading the "
                                          "test's space back before the run")
            return facts
        rep.add("DUT timestamps", OK if h.timestamp == 1 else WARN,
                "nf_conntrack_timestamp=1: each entry's age proves it is the run's" if h.timestamp == 1 else
                "nf_conntrack_timestamp=0: freshness is proven by reading the test's space back before the run only",
                "" if h.timestamp == 1 else "sysctl -w net.netfilter.nf_conntrack_timestamp=1 for a per-entry proof")
        return facts


def _check_kernel(dut, h, sc: Scenario, rep: CheckReport) -> None:
    """The kernel's settings a Linux conntrack DUT forwards and tracks by."""
    reads = "conntrack runs" if dut.kind == "conntrack" else f"{C_PROC} is read"
    rep.add("DUT conntrack", OK, f"{reads} as {'root' if h.uid == 0 else 'sudo'}; kernel {h.kernel}")
    key, value = (("net.ipv6.conf.all.forwarding", h.ip6_forward) if sc.connections.family == 6 else
                  ("net.ipv4.ip_forward", h.ip_forward))
    if value == 1:
        rep.add("DUT forwarding", OK, f"{key}=1")
    else:
        rep.add("DUT forwarding", FAIL, f"{key}={value}: the DUT does not route the test's packets",
                f"sysctl -w {key}=1 on the DUT")
    if h.tcp_loose == 1:
        rep.add("DUT tcp_loose", WARN, "nf_conntrack_tcp_loose=1: a lone ACK makes an ESTABLISHED entry (never "
                                       "ASSURED); the verdict still requires [ASSURED], so the handshake is "
                                       "proven, but loose pickup also tracks flows whose start it never saw",
                "sysctl -w net.netfilter.nf_conntrack_tcp_loose=0 for a strict DUT")
    else:
        rep.add("DUT tcp_loose", OK, "nf_conntrack_tcp_loose=0: only a SYN opens an entry")


def _check_ovs(dut, h, rep: CheckReport) -> None:
    """Open vSwitch's userspace conntrack: what reads it, and the timeouts the plan takes."""
    rep.add("DUT conntrack", OK, f"{dut.version or 'Open vSwitch'}: its userspace conntrack, zone {dut.zone}, read "
                                 f"with ovs-appctl as {'root' if h.uid == 0 else 'sudo'}; kernel {h.kernel}")
    rep.add("DUT forwarding", OK, "by Open vSwitch's flows (no kernel setting to read; the ICMP probe below "
                                  "crosses them)")


def _check_drones(sc: Scenario, opts: RunOptions, rep: CheckReport, openers: Openers) -> dict[str, DronePort]:
    drones: dict[str, DroneApi] = {}
    for key in sc.drones:
        try:
            drones[key] = connect_drone(sc, key, openers, opts)
            rep.add(f"Drone {key}", OK, f"{drones[key].endpoint}, version {drones[key].drone_version or 'unknown'}")
        except DroneError as exc:
            rep.add(f"Drone {key}", FAIL, str(exc), "start Drone there ('drone -p PORT', as root), or correct "
                                                    "drones." + key, exit_code=EXIT_INFRA)
    ports: dict[str, DronePort] = {}
    for side in ("a", "b"):
        spec = getattr(sc.ports, side)
        if spec.drone not in drones:
            continue
        name = f"port {side.upper()}"
        try:
            port = find_port(sc, side, drones[spec.drone], owner_tag(sc.name) + " [check]")
        except DroneError as exc:
            rep.add(name, FAIL, str(exc), f"use a name 'ostinato-tcp ports {sc.drones[spec.drone].host}' lists")
            continue
        st = port.drone.stats([port.id])[port.id]
        if st.state.link_state != LINK_UP:
            rep.add(name, FAIL, f"{port.where}: the link is down", "connect the port to the DUT and bring it up")
            continue
        try:
            port.claim(take_over=opts.take_over_ports)
        except UsageError as exc:
            rep.add(name, FAIL, str(exc))
            continue
        rep.add(name, OK, f"{port.where}: link up, free" + (" (taken over)" if port.claim_.warnings else ""))
        ports[side] = port
    return ports


def _check_paths(sc: Scenario, opts: RunOptions, rep: CheckReport, ports: dict[str, DronePort], openers: Openers,
                 *, dut_ok: bool, free: int | None = None):
    c = sc.connections
    client = int(c.client_ip)
    devices = {"a": client_devices(sc, client, 1), "b": server_devices(sc)}
    for side, port in ports.items():
        port.add_devices(devices[side])
    pending = resolve(sc, ports, {side: {devices[side].ip_base} for side in ports})
    for side, port in ports.items():
        dev = getattr(sc.ports, side).device
        if side in pending:
            rep.add(f"ARP port {side.upper()}", FAIL, f"the gateway {dev.gateway} did not answer ARP from "
                                                      f"{ipaddress.ip_address(devices[side].ip_base)} on "
                                                      f"{port.where} within {ARP_TIMEOUT:g} s",
                    f"check the cabling, the DUT's address {dev.gateway}/{dev.prefix} on that link, and "
                    f"ports.{side}.device")
        else:
            mac = next(iter(port.gateway_macs(int(dev.gateway)).values()))
            rep.add(f"ARP port {side.upper()}", OK, f"the gateway {dev.gateway} is at {mac_text(mac)}")
    ceiling = None
    if "a" in ports and "b" in ports and not pending:
        if dut_ok:
            ceiling = _check_probe(sc, opts, rep, ports, openers, free)
        else:  # the probe goes through the DUT and its entries must be removed after it
            rep.add("Drone send ceiling", SKIP, "the probe needs the DUT's conntrack, which could not be read (above)")
    if "a" in ports and "b" in ports and not pending:
        if sc.dut.kind == "none":
            rep.add("DUT tracks forwarded packets", SKIP, "dut.kind none: the DUT's table is not read (a run's "
                                                          "traffic proof shows what it carries)")
        elif sc.connections.family == 6:
            rep.add("DUT tracks forwarded packets", SKIP, "the ICMP echo probe is IPv4 only; the run's read-back of "
                                                          "the test's space still proves each entry")
        elif dut_ok:
            _check_tracking(sc, opts, rep, ports["a"], openers)
        else:
            rep.add("DUT tracks forwarded packets", SKIP, "needs the DUT's conntrack, which could not be read (above)")
    return ceiling


def _check_probe(sc: Scenario, opts: RunOptions, rep: CheckReport, ports: dict[str, DronePort], openers: Openers,
                 free: int | None):
    """Drone's build (and the fast build's frames) and both ports' send ceiling, as a run measures them."""
    try:
        probe = probe_drones(sc, ports, rate_needs_precision=lambda c: True, fault_checksum_bias=opts.fault_fast_build,
                             cache=None if opts.recheck_build else BuildCheckCache(), free_entries=free)
    except OstinatoTcpError as exc:
        rep.add("Drone probe", FAIL, f"could not measure Drone's build and send ceiling: {exc}", exit_code=EXIT_INFRA)
        return None
    for c in probe.checks:
        rep.add(f"Drone build {c.drone}", OK if c.form == "fast" else WARN,
                f"{c.form} form, {c.per_packet * 1000:.3f} ms per packet" + (f"; {c.note}" if c.note else ""))
    try:  # the probe went through the DUT: its entries go
        with openers.open_dut(sc, opts) as dut:
            dut.clear(probe_servers(sc), "none", also=probe_servers(sc))
    except OstinatoTcpError as exc:
        rep.add("Drone probe", WARN, f"the probe's entries on the DUT could not be removed ({exc}); they expire "
                                     "in the DUT's SYN_RECV timeout")
    ceiling = probe.ceiling
    asked = sc.traffic.rate
    detail = f"{ceiling.text()} (both ports flat out); a run may ask {CEILING_USE:.0%} of the slower: " \
             f"{ceiling.usable:,.0f}/s"
    if asked == "max":
        rep.add("Drone send ceiling", OK, f"{detail}; traffic.rate max sends at that")
    elif float(asked) <= ceiling.usable:
        rep.add("Drone send ceiling", OK, f"{detail}; traffic.rate asks {float(asked):,.0f}/s")
    elif sc.traffic.above_ceiling == "lower":
        rep.add("Drone send ceiling", WARN, f"{detail}; traffic.rate asks {float(asked):,.0f}/s, which the run "
                                            "lowers to the ceiling (traffic.above_ceiling: lower)")
    else:
        rep.add("Drone send ceiling", FAIL, f"{detail}; traffic.rate asks {float(asked):,.0f}/s: a run refuses it",
                f"traffic.rate {int(ceiling.usable):,} or less, traffic.rate max, or traffic.above_ceiling lower")
    return ceiling


def _check_tracking(sc: Scenario, opts: RunOptions, rep: CheckReport, a: DronePort, openers: Openers) -> None:
    """One ICMP echo from the first client address to the server, through the DUT: it must
    leave a conntrack entry there (deleted at once)."""
    c = sc.connections
    gw = next(iter(a.gateway_macs(int(sc.ports.a.device.gateway)).values()))
    src_mac = a.device_macs()[int(c.client_ip)]
    a.load_icmp_echo(object_name(sc.name, "check-icmp"), int(c.client_ip), int(c.server_ip), src_mac, gw)
    a.build(timeout=30)
    try:
        with openers.open_dut(sc, opts) as dut:
            a.start()
            while a.poll()[0]:
                time.sleep(0.01)
            time.sleep(0.2)
            seen = dut.icmp_entries(c.client_ip, c.server_ip, delete=True)
    except OstinatoTcpError as exc:
        rep.add("DUT tracks forwarded packets", FAIL, f"could not check: {exc}", exit_code=EXIT_INFRA)
        return
    if seen:
        rep.add("DUT tracks forwarded packets", OK, f"an ICMP echo {c.client_ip} -> {c.server_ip} made a conntrack "
                                                    "entry (deleted)")
    else:
        rep.add("DUT tracks forwarded packets", FAIL,
                f"an ICMP echo {c.client_ip} -> {c.server_ip} through the DUT made no conntrack entry: nothing "
                "tracks forwarded packets there (conntrack hooks register only for a ruleset that uses them)",
                "add a forward chain with a 'ct state' rule (nftables) or '-m conntrack' (iptables), or a NAT "
                "rule, on the DUT" + (f" in namespace {sc.dut.netns}" if sc.dut.netns else ""))


def list_ports(drone: DroneApi) -> list[dict]:
    """Every port Drone lists: id, name, description, link, user name (owner tag), streams,
    device groups, transmitting."""
    ids = drone.getPortIdList()
    cfgs = {p.port_id.id: p for p in drone.getPortConfig(ids).port}
    stats = drone.stats(cfgs)
    out = []
    for pid, cfg in sorted(cfgs.items()):
        st = stats.get(pid)
        link = {0: "unknown", 1: "down", 2: "up"}.get(st.state.link_state if st else 0, "unknown")
        out.append({"id": pid, "name": cfg.name, "description": cfg.description, "link": link,
                    "user_name": cfg.user_name, "streams": len(drone.stream_ids(pid)),
                    "device_groups": len(drone.device_group_ids(pid)),
                    "transmitting": bool(st and st.state.is_transmit_on),
                    "mode": "interleaved" if cfg.transmit_mode == 1 else "sequential"})
    return out
