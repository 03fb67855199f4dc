"""The plan's checks beside the timing: the rate against Drone's measured send ceiling, the
hold and keep-alive, the addresses against port A's subnet, NAT. Each appends a warning or a
problem (a refusal unless forced), or raises for what no plan can fix."""

from __future__ import annotations

import ipaddress

from ostinato_tcp.domain.ceiling import CEILING_USE, TYPICAL_CEILING, Ceiling
from ostinato_tcp.domain.facts import DutFacts
from ostinato_tcp.domain.hash_chains import (CHAIN_REFUSE, CHAIN_WARN, MAX_CHAINLEN, MIN_CHAINLEN, ChainForecast,
                                             forecast)
from ostinato_tcp.domain.streams import DATA_BYTES
from ostinato_tcp.domain.tuples import ConnectionSpace
from ostinato_tcp.errors import PlanError
from ostinato_tcp.scenario import Scenario


def plan_rate(sc: Scenario, ceiling: Ceiling | None, warnings: list[str], problems: list[str]) -> tuple[float, str]:
    """The packets per second each stream asks, and where the figure comes from: traffic.rate
    within Drone's measured send ceiling; ``max`` or a lowered rate from the ceiling; a rate
    above it refused (``traffic.above_ceiling: refuse``) with the measured figures."""
    t = sc.traffic
    if t.rate == "max":
        if ceiling is None:
            return CEILING_USE * TYPICAL_CEILING, (f"traffic.rate max: {CEILING_USE:.0%} of Drone's send ceiling, "
                                                   f"measured when the run starts; {TYPICAL_CEILING:,.0f}/s assumed "
                                                   "until then")
        return ceiling.usable, (f"traffic.rate max: {CEILING_USE:.0%} of the slower port's measured send ceiling, "
                                f"{ceiling.value:,.0f}/s")
    r = float(t.rate)
    if ceiling is None:
        return r, ""
    if r <= ceiling.usable:
        return r, (f"traffic.rate; Drone's measured send ceiling {ceiling.value:,.0f}/s, of which a run may ask "
                   f"{CEILING_USE:.0%}")
    said = (f"traffic.rate {r:,.0f}/s is more than Drone's ports keep here: sending together they measured "
            f"{ceiling.text()}, and a run may ask {CEILING_USE:.0%} of the slower one's, {ceiling.usable:,.0f}/s")
    if t.above_ceiling == "lower":
        warnings.append(f"{said}: the run sends at {ceiling.usable:,.0f}/s (traffic.above_ceiling: lower)")
        return ceiling.usable, f"lowered from traffic.rate {r:,.0f}/s to {CEILING_USE:.0%} of the measured ceiling"
    problems.append(f"{said}. Fix: traffic.rate {int(ceiling.usable):,} or less, traffic.rate max, or "
                    "traffic.above_ceiling lower (the run lowers its rate to the ceiling)")
    return r, "traffic.rate (above the measured ceiling)"


def check_chains(dut: DutFacts, n: int, warnings: list[str], problems: list[str]) -> ChainForecast | None:
    """The kernel's hash-chain limit against the run: refused when it is expected to cut a
    connection (chaintoolong), warned when it may (see :mod:`.hash_chains`); the fix names
    the bucket count to set."""
    before = dut.entries_after_clear
    if not dut.buckets or before is None:
        return None
    f = forecast(before, n, dut.buckets)
    if f.expected_refused < CHAIN_WARN:
        return f
    said = (f"the DUT's hash table: {before + n:,} entries in {dut.buckets:,} buckets (nf_conntrack_buckets) make "
            f"a mean chain of {f.mean_at_end:.1f} (2 x entries / buckets) at the end of the run; the kernel refuses "
            f"an insert whose chain is longer than {MIN_CHAINLEN} to {MIN_CHAINLEN + MAX_CHAINLEN - 1} (chaintoolong), "
            f"so about {f.expected_refused:,.{0 if f.expected_refused >= 10 else 2}f} of the connections are expected "
            f"to be refused. Fix: set net.netfilter.nf_conntrack_buckets to {f.buckets_needed:,} or more on the DUT "
            "(as root, in its initial network namespace)")
    (problems if f.expected_refused >= CHAIN_REFUSE else warnings).append(said)
    return f


def check_hold(sc: Scenario, dut: DutFacts, n: int, r: float, warnings: list[str], problems: list[str]) -> None:
    """expect.hold and traffic.keepalive: a keep-alive round must fit in its interval; a hold
    past the DUT's established timeout is allowed (it may be the test) but said."""
    hold, keep, est = sc.expect.hold, sc.traffic.keepalive, dut.established_timeout
    if not hold:
        return
    if keep is not None:
        send = n / r
        if keep <= send * 1.1 + 0.1:
            problems.append(f"traffic.keepalive {keep:g} s is not longer than sending the {n} ACKs at {r:g}/s "
                            f"({send:.1f} s, +10% +0.1 s). Fix: a longer keepalive or a higher rate")
        if keep > hold:
            warnings.append(f"traffic.keepalive {keep:g} s is longer than expect.hold {hold:g} s: no keep-alive "
                            "is sent during the hold")
    if est is None:
        return
    idle = keep if keep is not None and keep <= hold else hold
    if idle >= est:
        warnings.append(f"the connections stay idle {idle:g} s, not less than the DUT's established timeout "
                        f"{est} s (nf_conntrack_tcp_timeout_established): expect the entries to expire during "
                        "the hold")


def check_addresses(sc: Scenario, space: ConnectionSpace) -> None:
    dev = sc.ports.a.device
    net = ipaddress.ip_network(f"{dev.gateway}/{dev.prefix}", strict=False)
    lo = ipaddress.ip_address(space.ip_text(space.first_ip))
    hi = ipaddress.ip_address(space.ip_text(space.first_ip + space.ip_count - 1))
    if lo not in net or hi not in net or lo == net.network_address or hi == net.broadcast_address:
        raise PlanError(f"{sc.source or sc.name}: connections: client IPs {lo}..{hi} do not fit in port A's "
                        f"subnet {net}. Fix: fewer client_ips, a lower client_ip, or a shorter "
                        "ports.a.device.prefix")
    if lo <= dev.gateway <= hi:
        raise PlanError(f"{sc.source or sc.name}: connections: client IPs {lo}..{hi} include the gateway "
                        f"{dev.gateway}. Fix: start client_ip above it")


def check_nat(sc: Scenario, space: ConnectionSpace, warnings: list[str], problems: list[str]) -> None:
    if sc.nat.mode == "preserve-ports":
        if space.ip_count > 1:
            problems.append(
                f"nat.mode preserve-ports with {space.ip_count} client IPs: client ports repeat across IPs, so the "
                "NAT cannot keep them all on one translated address. Fix: nat.mode 'learn', or at most 64K "
                "connections from one client IP")
        if space.first_port < 16384:
            warnings.append(f"client ports from {space.first_port}: recent kernels may remap source ports below "
                            "16384 when NATing; preserve-ports then fails for them. Prefer first_client_port >= 16384")


CARRY_CAPTURE_FRAMES = 900_000  # a traffic proof's batch: at most this many frames in each port's capture


def check_carry(sc: Scenario, space: ConnectionSpace, problems: list[str]) -> None:
    """expect.proof traffic: each port's capture of a batch holds two frames per connection (its own
    segment and the other port's), and an 8-byte segment must fit the window the handshake advertised."""
    if "traffic" not in sc.expect.proof:
        return
    limit = CARRY_CAPTURE_FRAMES // 2
    if space.batch_size > limit:
        problems.append(f"expect.proof traffic: batches of {space.batch_size:,} connections would put "
                        f"{2 * space.batch_size:,} frames in each port's capture, more than {CARRY_CAPTURE_FRAMES:,}. "
                        f"Fix: traffic.batches {limit} (or less)")
    if sc.traffic.window < DATA_BYTES:
        problems.append(f"expect.proof traffic: traffic.window {sc.traffic.window} is smaller than the "
                        f"{DATA_BYTES}-byte data segments: a strict tracker marks them invalid. Fix: traffic.window "
                        f"{DATA_BYTES} or more")
