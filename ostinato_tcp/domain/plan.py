"""The plan: timing and layout computed and checked before any packet is sent.

Pipelined (the default, the overlapped scheme): port A sends the batch's M SYNs
then its M ACKs at ``rate``; port B starts its M SYN-ACKs ``delay`` seconds after
A. Connection k then sees

    SYN at k/r,   SYN-ACK at d + k/r,   ACK at M/r + k/r

so the order holds for every k when 0 < d < M/r, with margins d (SYN -> SYN-ACK)
and M/r - d (SYN-ACK -> ACK). Each margin is also a gap the DUT entry must
survive: d under the SYN_SENT timeout, M/r - d under the SYN_RECV timeout.

Phased (the step-by-step procedure; chosen when the margins would be too
small): all SYNs, then all SYN-ACKs, then all ACKs, each phase started after the
previous one has been sent. Gaps are M/r (+ Drone's rebuild for the ACK phase).

When M = N would break a timeout (or make Drone's pre-build too long), the run
is split into batches that run one after another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ostinato_tcp.domain.ceiling import Ceiling
from ostinato_tcp.domain.hash_chains import ChainForecast
from ostinato_tcp.domain.streams import DATA_BYTES
from ostinato_tcp.domain.plan_checks import (check_addresses, check_carry, check_chains, check_hold, check_nat,
                                             plan_rate)
from ostinato_tcp.domain.facts import DutFacts
from ostinato_tcp.domain.verdict import Expected
from ostinato_tcp.errors import CapacityError, PlanError, UsageError
from ostinato_tcp.scenario import Scenario
from ostinato_tcp.domain.tuples import Batch, ConnectionSpace, Servers

TIMEOUT_USE = 0.9  # use at most this share of a DUT timeout for one gap
# Drone's build cost per packet before it is measured on the run's Drone (drone-build-cost.md, this VM)
MAX_STREAMS_PER_LEG = 4096  # Drone streams of one leg per port and batch
TYPICAL_BUILD_COST = {"fast": 0.00003, "resolve": 0.0002}
RPC_OVERHEAD = 0.05  # seconds between phases for the RPCs that start them
RUN_OVERHEAD = 3.0  # seconds of a run outside Drone's build and the send (SSH, ARP, dump): a rough figure
PHASED_COST_SECONDS = 2.0  # traffic.mode auto takes phased when it costs at most this much more ...
PHASED_COST_SHARE = 0.10  # ... or at most this share of the run
HASH_LOAD_WARN = 4.0  # entries per hash bucket above which inserts slow and margins are scaled up


@dataclass
class BatchTiming:
    batch: Batch
    build_seconds: float
    send_seconds: float  # from the first packet to the last of the batch
    syn_to_synack: float  # gap, = ordering margin 1 in pipelined mode
    synack_to_ack: float  # gap, = ordering margin 2 in pipelined mode


@dataclass
class Plan:
    scenario: Scenario
    mode: str  # "pipelined" | "phased"
    rate: float
    delay: float | None  # pipelined only
    space: ConnectionSpace
    dut: DutFacts
    timings: list[BatchTiming]
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # refusals; forced runs keep them as warnings
    capacity_problem: str | None = None  # the table-size refusal (also in problems when forced)
    rate_problem: str | None = None  # the send-ceiling refusal (also in problems)
    forced: bool = False
    build_per_packet: float = TYPICAL_BUILD_COST["fast"]  # seconds Drone spends per packet it builds
    build_source: str = ""  # where that figure comes from
    fast: bool = True  # Drone's fast build (fixed MACs, given checksums), or resolve
    min_margin: float = 0.2  # the ordering margin each connection must keep (seconds), as used
    margin_why: str = ""  # where that margin comes from
    mode_why: str = ""  # why this mode
    hash_load: float | None = None  # the DUT's entries per hash bucket at the end of the run
    chains: "ChainForecast | None" = None  # the hash chains at the end of the run, and what the limit may cut
    ceiling: Ceiling | None = None  # Drone's send ceiling, measured before the first packet
    rate_why: str = ""  # where the rate comes from (traffic.rate, max, lowered to the ceiling)

    @property
    def total(self) -> int:
        return self.space.total

    @property
    def batches(self) -> list[Batch]:
        return self.space.batches()

    @property
    def streams_per_leg(self) -> int:
        """Drone streams of one leg in the largest batch (one per client IP and server endpoint)."""
        return len(self.space.stream_runs(self.space.batches()[0]))

    @property
    def expected_seconds(self) -> float:
        return sum(t.build_seconds + t.send_seconds for t in self.timings)

    def expected(self) -> Expected:
        """The exact set of connections this plan makes and the reply tuples they must have."""
        sc = self.scenario
        return Expected(space=self.space, nat_mode=sc.nat.mode,
                        nat_address=str(sc.nat.address) if sc.nat.address else None,
                        require_assured=sc.expect.assured)

    def connection_times(self, n: int) -> tuple[float, float, float]:
        """SYN, SYN-ACK and ACK send times of connection ``n``, from its batch's start."""
        k = n % self.space.batch_size
        batch = self.batches[n // self.space.batch_size]
        m, r = batch.count, self.rate
        if self.mode == "pipelined":
            return k / r, self.delay + k / r, m / r + k / r
        rebuild = self.build_per_packet * m
        return k / r, m / r + RPC_OVERHEAD + k / r, 2 * m / r + 2 * RPC_OVERHEAD + rebuild + k / r

    def to_dict(self) -> dict:
        """The plan as plain data (``plan --json``)."""
        sp = self.space
        return {"mode": self.mode, "rate": self.rate, "delay": self.delay, "total": self.total,
                "batch_size": sp.batch_size, "batches": len(self.timings), "client_ips": sp.ip_count,
                "ports_per_batch": sp.ports_per_batch, "last_client_port": sp.last_port(),
                "server_endpoints": sp.endpoint_count, "streams_per_leg": self.streams_per_leg,
                "expected_seconds": self.expected_seconds, "mode_why": self.mode_why,
                "min_margin": self.min_margin, "margin_why": self.margin_why, "rate_why": self.rate_why,
                "ceiling": self.ceiling.to_dict() if self.ceiling is not None else None,
                "dut": {"syn_sent_timeout": self.dut.syn_sent_timeout, "syn_recv_timeout": self.dut.syn_recv_timeout,
                        "conntrack_max": self.dut.conntrack_max, "conntrack_count": self.dut.conntrack_count,
                        "own_entries": self.dut.own_entries, "free_after_clear": self.dut.free_entries,
                        "buckets": self.dut.buckets, "hash_load_at_end": self.hash_load,
                        **(self.chains.to_dict() if self.chains else
                           {"mean_chain_at_end": None, "expected_chain_refusals": None, "buckets_needed": None}),
                        "established_timeout": self.dut.established_timeout, "source": self.dut.source},
                "hold": self.scenario.expect.hold, "keepalive": self.scenario.traffic.keepalive,
                "timings": [{"batch": t.batch.index + 1, "first": t.batch.first, "count": t.batch.count,
                             "build_seconds": t.build_seconds, "send_seconds": t.send_seconds,
                             "syn_to_synack": t.syn_to_synack, "synack_to_ack": t.synack_to_ack}
                            for t in self.timings],
                "warnings": self.warnings, "problems": self.problems}

    def describe(self) -> list[str]:
        """The dry run, as lines."""
        sc, sp = self.scenario, self.space
        lines = [f"plan for '{sc.name}': {self.total} connections at {self.rate:g} packets/s per stream, "
                 f"{self.mode} mode, {len(self.timings)} batch(es)"]
        if self.rate_why:
            lines.append(f"  rate: {self.rate:,.0f} packets/s per stream ({self.rate_why})")
        if self.mode_why:
            lines.append(f"  mode: {self.mode}: {self.mode_why}")
        lines.append(f"  ordering margin kept: at least {self.min_margin:.3f} s ({self.margin_why})")
        lo, hi = sp.client_ip_range()
        lines.append(f"  clients: {lo}" + (f" .. {hi} ({sp.ip_count} IPs)" if sp.ip_count > 1 else "")
                     + f", ports {sp.first_port} .. {sp.last_port()} step {sp.step}"
                     + ((f", {sp.ports_per_batch} ports per client IP per batch (one stream per IP)" if sp.blocks else
                         f", {sp.ports_per_batch} ports per batch (coprime with {sp.ip_count})")
                        if sp.ip_count > 1 else ""))
        lines.append(f"  Drone build: {'fast (fixed MACs, checksums given)' if self.fast else 'resolve'}, "
                     f"{self.build_per_packet * 1000:.3f} ms per packet ({self.build_source})")
        lines.append(f"  server: {sp.servers.describe()}"
                     + (f", each client IP's connections spread over them ({self.streams_per_leg} streams per leg "
                        "and batch)" if sp.endpoint_count > 1 else "")
                     + (f"; NAT {sc.nat.mode}" + (f" to {sc.nat.address}" if sc.nat.address else "")
                        if sc.nat.mode != "none" else ""))
        lines.append(f"  DUT timeouts: SYN_SENT {self.dut.syn_sent_timeout} s, SYN_RECV {self.dut.syn_recv_timeout} s "
                     f"({self.dut.source})")
        if self.dut.conntrack_max is not None:
            own = (f" ({self.dut.own_entries} of them the test's own, removed by dut.clear first)"
                   if self.dut.own_entries else "")
            lines.append(f"  DUT table: {self.dut.conntrack_count} of {self.dut.conntrack_max} entries used{own}, "
                         f"{self.dut.free_entries} free for the run, {self.total} needed"
                         + (f"; {self.dut.buckets} hash buckets, {self.hash_load:.1f} entries per bucket at the end"
                            if self.hash_load is not None else ""))
        if self.chains is not None:
            c = self.chains
            lines.append(f"  DUT hash chains: mean {c.mean_at_end:.1f} at the end (2 x entries / buckets); the "
                         f"kernel's chain limit is expected to refuse {c.expected_refused:.3g} insert(s)"
                         + (f" (set nf_conntrack_buckets to {c.buckets_needed:,})" if c.buckets_needed else ""))
        if self.mode == "pipelined":
            m = self.space.batch_size
            lines.append(f"  delay: {self.delay:.3f} s (window 0 < delay < M/rate = {m / self.rate:.3f} s"
                         + (", auto = middle" if sc.traffic.delay == "auto" else "") + ")")
        for t in self.timings:
            b = t.batch
            syn, synack, ack = self.connection_times(b.first)
            lines.append(f"  batch {b.index + 1}: connections {b.first}..{b.first + b.count - 1}; "
                         f"build ~{t.build_seconds:.1f} s, send {t.send_seconds:.2f} s; first connection: "
                         f"SYN {syn:.3f} s, SYN-ACK {synack:.3f} s, ACK {ack:.3f} s; gaps SYN->SYN-ACK "
                         f"{t.syn_to_synack:.3f} s (< {self.dut.syn_sent_timeout} s), SYN-ACK->ACK "
                         f"{t.synack_to_ack:.3f} s (< {self.dut.syn_recv_timeout} s)")
            if len(self.timings) > 6 and b.index == 2:
                lines.append(f"  ... {len(self.timings) - 4} more batches ...")
                break
        if len(self.timings) > 6:
            t = self.timings[-1]
            lines.append(f"  batch {t.batch.index + 1}: connections {t.batch.first}..{t.batch.first + t.batch.count - 1}")
        lines.append(f"  expected duration: {self.expected_seconds:.1f} s (build + send)")
        if "traffic" in sc.expect.proof:
            lines.append(f"  traffic proof: after the verdict, per batch, one data segment of {DATA_BYTES} bytes each way over "
                         f"every connection at {self.rate:,.0f}/s per port, both ports capturing (about "
                         f"{self.total / self.rate + 2.5 * len(self.timings):.1f} s more)")
        hold, keep = sc.expect.hold, sc.traffic.keepalive
        if hold:
            est = self.dut.established_timeout
            lines.append(f"  hold: {hold:g} s after the verdict, then every connection checked again; "
                         + (f"keep-alive ACKs every {keep:g} s" if keep else "idle")
                         + (f"; the DUT's established timeout is {est} s" if est is not None else ""))
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        for p in self.problems:
            lines.append(f"  {'forced past' if self.forced else 'REFUSED'}: {p}")
        return lines


def planned_gaps(mode: str, m: int, r: float, d: float | None, build_pp: float) -> tuple[float, float]:
    """A batch's planned SYN -> SYN-ACK and SYN-ACK -> ACK gaps, seconds (at their largest)."""
    if mode == "pipelined":
        return d, m / r - d
    return m / r + RPC_OVERHEAD, m / r + RPC_OVERHEAD + build_pp * m


def max_batch(mode: str, r: float, dut: DutFacts, build_pp: float, max_build: float,
              delay: float | None) -> int:
    """Largest batch whose gaps fit the DUT's timeouts and whose pre-build is short enough."""
    ss, sr = TIMEOUT_USE * dut.syn_sent_timeout, TIMEOUT_USE * dut.syn_recv_timeout
    if mode == "pipelined":
        if delay is None:  # auto: d = M/2r must fit both timeouts
            m_time = 2 * r * min(ss, sr)
        else:  # M/r - d < sr
            m_time = r * (sr + delay)
    else:
        m_time = min(r * (ss - RPC_OVERHEAD), (sr - RPC_OVERHEAD) / (1 / r + build_pp))
    m_build = max_build / (3 * build_pp)  # A holds 2M packets, B M
    return max(1, math.floor(min(m_time, m_build) + 1e-6))  # 12 / 0.0006 must give 20000, not 19999


def build_cost(sc: Scenario, measured: float | None = None) -> tuple[float, str]:
    """Seconds Drone spends building one packet, and where the figure comes from."""
    t = sc.traffic
    if t.build_seconds_per_packet != "auto":
        return float(t.build_seconds_per_packet), "traffic.build_seconds_per_packet"
    if measured is not None:
        return measured, "measured on the run's Drone"
    form = "resolve" if t.drone_build == "resolve" or sc.connections.family == 6 else "fast"
    return TYPICAL_BUILD_COST[form], f"typical for the {form} build (measured when the run starts)"


def hash_load(dut: DutFacts, n: int) -> float | None:
    """Entries per hash bucket in the DUT's table at the end of a run of ``n`` connections."""
    if not dut.buckets or dut.entries_after_clear is None:
        return None
    return (dut.entries_after_clear + n) / dut.buckets


def make_plan(sc: Scenario, dut: DutFacts | None = None, *, force: bool = False, measured_build: float | None = None,
              fast: bool | None = None, overfill: bool = False, ceiling: Ceiling | None = None) -> Plan:
    """Compute and check the plan. Raises PlanError (or CapacityError) unless ``force``.
    ``measured_build``: Drone's build cost per packet as the run measured it; ``fast``: whether
    the fast build is used (default: unless ``traffic.drone_build`` is resolve); ``overfill``:
    more connections than the DUT's table can take is the point (the capacity probe);
    ``ceiling``: Drone's send ceiling as the run measured it (:mod:`.probe`)."""
    dut = dut or DutFacts()
    t, c = sc.traffic, sc.connections
    build_pp, build_source = build_cost(sc, measured_build)
    fast = (t.drone_build != "resolve" and sc.connections.family == 4) if fast is None else fast
    warnings: list[str] = []
    problems: list[str] = []
    r, rate_why = plan_rate(sc, ceiling, warnings, problems)
    n = c.count
    explicit_delay = None if t.delay == "auto" else float(t.delay)

    # Mode --------------------------------------------------------------------
    mode = t.mode
    if sc.nat.mode == "learn":
        if mode == "pipelined":
            problems.append("nat.mode 'learn' reads the SYN phase's entries before sending SYN-ACKs, so it "
                            "needs traffic.mode 'phased' (or 'auto')")
        mode = "phased"
    if mode == "auto" and explicit_delay is not None:
        mode = "pipelined"  # a delay only means something in the overlapped scheme
    # The ordering margin each connection needs, scaled by how hard the run drives the DUT's
    # hash table: at more than HASH_LOAD_WARN entries per bucket inserts slow down and packets
    # of the two ports reorder more (issue seen: 800,000 entries in 262,144 buckets).
    load = hash_load(dut, n)
    min_margin = t.min_margin * max(1.0, (load or 0) / HASH_LOAD_WARN)
    margin_why = (f"traffic.min_margin {t.min_margin:g} s" if min_margin == t.min_margin else
                  f"traffic.min_margin {t.min_margin:g} s x {min_margin / t.min_margin:.1f} for the DUT's hash load "
                  f"of {load:.1f} entries per bucket")
    if load is not None and load > HASH_LOAD_WARN:
        warnings.append(f"the DUT's hash table will hold {load:.1f} entries per bucket at the end of the run "
                        f"(nf_conntrack_buckets {dut.buckets}): inserts slow down and packets reorder more, so the "
                        f"ordering margins must be at least {min_margin:.2f} s. Fix: raise "
                        "net.netfilter.nf_conntrack_buckets (or the nf_conntrack module's hashsize) to about "
                        f"{((dut.entries_after_clear or 0) + n) // 2:,}")
    mode_why = f"traffic.mode {t.mode}"
    if mode == "auto":
        half = (n / r) / 2
        mode = "pipelined" if half >= min_margin else "phased"
        mode_why = (f"pipelined margins of {half:.3f} s would be below {margin_why}" if mode == "phased" else "")
        if mode == "phased":
            warnings.append(f"pipelined margins would be {max(half, 0):.3f} s (< {margin_why}), so SYNs, SYN-ACKs "
                            "and ACKs are sent one phase after another")

    # Batches -----------------------------------------------------------------
    def batch_size(mode_: str) -> int:
        limit = max_batch(mode_, r, dut, build_pp, t.max_build_seconds,
                          explicit_delay if mode_ == "pipelined" else None)
        if t.batches == "off":
            m_ = n
        elif t.batches == "auto":
            m_ = min(n, limit)
        else:
            m_ = min(n, int(t.batches))
        # Balance the batches: same number of batches, sizes as equal as possible.
        return math.ceil(n / math.ceil(n / m_)) if m_ < n else m_

    m = batch_size(mode)
    if t.mode == "auto" and mode == "pipelined" and explicit_delay is None and (m / r) / 2 < min_margin:
        mode = "phased"  # batching shrank the window below the margins
        mode_why = f"batches of {m} leave pipelined margins of {(m / r) / 2:.3f} s, below {margin_why}"
        warnings.append(f"batches of {m} leave pipelined margins of {(m / r) / 2:.3f} s (< {margin_why}), so each "
                        "batch is sent in three phases")
        m = batch_size(mode)
    if t.mode == "auto" and mode == "pipelined" and explicit_delay is None:
        # Phased doubles each ordering margin (a whole phase instead of half a window) for one
        # more phase of sending per batch: take it when that costs little.
        batches_n = math.ceil(n / m)
        extra = n / r + batches_n * (2 * RPC_OVERHEAD + m * build_pp)
        run_s = 3 * n * build_pp + 2 * n / r + RUN_OVERHEAD
        if extra <= PHASED_COST_SECONDS or extra <= PHASED_COST_SHARE * run_s:
            m2 = batch_size("phased")
            if m2 == m:
                mode = "phased"
                mode_why = (f"phased costs {extra:.1f} s more than pipelined (<= {PHASED_COST_SECONDS:g} s or "
                            f"{PHASED_COST_SHARE:.0%} of the run) for twice the ordering margin")
        if mode == "pipelined":
            mode_why = (f"phased would cost {extra:.1f} s more (> {PHASED_COST_SECONDS:g} s and > "
                        f"{PHASED_COST_SHARE:.0%} of the run); the pipelined margins ({(m / r) / 2:.3f} s) keep "
                        f"{margin_why}")

    try:
        space = ConnectionSpace.layout(client_ip=c.client_ip, client_ips=c.client_ips, first_port=c.first_client_port,
                                       step=c.step, server_ip=c.server_ip, server_port=c.server_port, total=n,
                                       batch_size=m, blocks=fast or c.server_endpoints > 1, servers=Servers.of(c))
        space.prove_unique()
    except PlanError as exc:
        raise PlanError(f"{sc.source or sc.name}: connections: {exc}") from None

    check_addresses(sc, space)
    check_nat(sc, space, warnings, problems)
    check_carry(sc, space, problems)
    streams = len(space.stream_runs(space.batches()[0]))
    if streams > MAX_STREAMS_PER_LEG:
        problems.append(f"{space.ip_count} client IPs x {space.endpoint_count} server endpoints need {streams} Drone "
                        f"streams per leg and batch, more than {MAX_STREAMS_PER_LEG}. Fix: fewer connections.server_ips "
                        "or server_ports, or fewer client IPs per batch (traffic.batches)")

    # Delay and margins ----------------------------------------------------------
    delay = None
    if mode == "pipelined":
        window = m / r
        delay = window / 2 if explicit_delay is None else explicit_delay
        if delay >= window:
            problems.append(
                f"traffic.delay {delay:g} s is not below batch size/rate = {window:g} s: the first ACK (sent at "
                f"{window:g} s) would reach the DUT before its SYN-ACK (sent at {delay:g} s), so no connection "
                f"would be established. Fix: a delay below {window:g} s, or 'auto' ({window / 2:g} s)")
        elif min(delay, window - delay) < min_margin:
            problems.append(
                f"the pipelined margins are {delay:.3f} s and {window - delay:.3f} s, below {margin_why}: "
                "Drone's start-up jitter or a port falling behind could break the order. Fix: traffic.mode 'phased' "
                "(or 'auto'), a lower rate, or a delay nearer the middle of the window")

    # Timing per batch -------------------------------------------------------------
    timings = []
    for b in space.batches():
        g1, g2 = planned_gaps(mode, b.count, r, delay, build_pp)
        build = 3 * b.count * build_pp
        send = (2 * b.count / r) if mode == "pipelined" else (3 * b.count / r + 2 * RPC_OVERHEAD
                                                                + b.count * build_pp)
        timings.append(BatchTiming(b, build, send, g1, g2))
    worst = max(timings, key=lambda x: x.batch.count)
    if worst.syn_to_synack >= TIMEOUT_USE * dut.syn_sent_timeout:
        problems.append(
            f"SYN -> SYN-ACK gap {worst.syn_to_synack:.1f} s reaches the DUT's SYN_SENT timeout "
            f"{dut.syn_sent_timeout} s (x{TIMEOUT_USE}): entries would expire before their SYN-ACK. Fix: "
            "traffic.batches 'auto', a higher rate, or a shorter delay")
    if worst.synack_to_ack >= TIMEOUT_USE * dut.syn_recv_timeout:
        problems.append(
            f"SYN-ACK -> ACK gap {worst.synack_to_ack:.1f} s reaches the DUT's SYN_RECV timeout "
            f"{dut.syn_recv_timeout} s (x{TIMEOUT_USE}): entries would expire in SYN_RECV before their ACK. Fix: "
            "traffic.batches 'auto' (or a smaller batch size), a higher rate, or a longer "
            "nf_conntrack_tcp_timeout_syn_recv on the DUT")
    check_hold(sc, dut, n, r, warnings, problems)
    chains = check_chains(dut, n, warnings, problems)
    if dut.tcp_loose == 1:
        warnings.append("the DUT has nf_conntrack_tcp_loose=1: a lone ACK creates an ESTABLISHED entry "
                        "(never ASSURED); the verdict requires [ASSURED], so such entries fail")

    plan = Plan(scenario=sc, mode=mode, rate=r, delay=delay, space=space, dut=dut, timings=timings,
                warnings=warnings, problems=problems, forced=force, build_per_packet=build_pp,
                build_source=build_source, fast=fast, min_margin=min_margin, margin_why=margin_why,
                mode_why=mode_why, hash_load=load, chains=chains, ceiling=ceiling, rate_why=rate_why,
                rate_problem=next((p for p in problems if p.startswith("traffic.rate ")), None))

    free = dut.free_entries
    if overfill and free is not None and n <= free:
        raise UsageError(f"connections.count {n} fits in the DUT's {free} free conntrack entries (nf_conntrack_max "
                         f"{dut.conntrack_max} - nf_conntrack_count {dut.conntrack_count}): nothing would overflow. "
                         f"Fix: a count above {free}, e.g. --set connections.count={int(free * 1.5) + 1}")
    if free is not None and n > free:
        own = (f" + {dut.own_entries} of the test's own that dut.clear removes" if dut.own_entries else "")
        own += f" - {dut.reserved} for the run's other port pairs" if dut.reserved else ""
        msg = (f"connections.count {n} is more than the DUT's conntrack table can take: "
               f"nf_conntrack_max {dut.conntrack_max} - nf_conntrack_count {dut.conntrack_count}{own} = {free} free. "
               "Fix: raise net.netfilter.nf_conntrack_max on the DUT (Open vSwitch: ovs-appctl dpctl/ct-set-maxconns), "
               "clear entries, or lower connections.count")
        if overfill:
            plan.warnings.append(f"capacity probe: {n} connections into {free} free entries on purpose")
        elif not force:
            raise CapacityError(msg)
        else:
            plan.problems.append(msg)
            plan.capacity_problem = msg
    if problems and not force:
        raise PlanError(f"{sc.source or sc.name}: the plan cannot work: " + " | ".join(problems)
                        + " (--ignore-plan-checks runs it anyway)")
    return plan
