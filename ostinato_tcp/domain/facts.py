"""What the tool knows of a DUT: the facts the plan needs, and its health at one moment."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


DEFAULT_SYN_SENT_TIMEOUT = 120
DEFAULT_SYN_RECV_TIMEOUT = 60


@dataclass(frozen=True)
class DutFacts:
    """What the plan needs to know about the DUT; ``source`` says where it came from."""

    syn_sent_timeout: int = DEFAULT_SYN_SENT_TIMEOUT
    syn_recv_timeout: int = DEFAULT_SYN_RECV_TIMEOUT
    conntrack_max: int | None = None
    conntrack_count: int | None = None
    tcp_loose: int | None = None
    buckets: int | None = None  # nf_conntrack_buckets: the hash table's size
    established_timeout: int | None = None  # nf_conntrack_tcp_timeout_established (expect.hold)
    own_entries: int = 0  # entries of the test's own space, which the run's dut.clear removes first
    clear: str = "test"  # the scenario's dut.clear (all: the whole table is emptied first)
    reserved: int = 0  # entries the run's other port pairs will add beside this pair's
    source: str = "kernel defaults (DUT not read)"

    @property
    def free_entries(self) -> int | None:
        """Free entries once the run's own clear has run (what the run can fill)."""
        if self.conntrack_max is None or self.conntrack_count is None:
            return None
        if self.clear == "all":
            return self.conntrack_max - self.reserved
        return (self.conntrack_max - self.conntrack_count + (self.own_entries if self.clear == "test" else 0)
                - self.reserved)

    @property
    def entries_after_clear(self) -> int | None:
        """Entries in the table when the run starts sending (after its clear)."""
        return None if self.free_entries is None else self.conntrack_max - self.free_entries


@dataclass
class Health:
    """The DUT's conntrack capacity, settings and counters at one moment."""

    count: int | None = None
    max: int | None = None
    buckets: int | None = None
    tcp_loose: int | None = None
    syn_sent_timeout: int | None = None
    syn_recv_timeout: int | None = None
    established_timeout: int | None = None
    timestamp: int | None = None  # nf_conntrack_timestamp: 1 when entries carry their start time
    ip_forward: int | None = None  # net.ipv4.ip_forward
    ip6_forward: int | None = None  # net.ipv6.conf.all.forwarding
    kernel: str | None = None
    uid: int | None = None
    has_conntrack: bool | None = None
    tcp_be_liberal: int | None = None  # nf_conntrack_tcp_be_liberal: 1 takes out-of-window packets
    tcp_max_retrans: int | None = None  # nf_conntrack_tcp_max_retrans (a timeout's, not a state's)
    tcp_ignore_invalid_rst: int | None = None  # nf_conntrack_tcp_ignore_invalid_rst
    counters: dict[str, int] = field(default_factory=dict)  # conntrack -S, summed over CPUs
    taken_at: float = 0.0

    @property
    def free(self) -> int | None:
        return None if self.max is None or self.count is None else self.max - self.count

    def deltas(self, later: "Health") -> dict[str, int]:
        keys = sorted(set(self.counters) | set(later.counters))
        return {k: later.counters.get(k, 0) - self.counters.get(k, 0) for k in keys}

    def facts(self, source: str, *, own_entries: int = 0, clear: str = "test") -> DutFacts:
        return DutFacts(syn_sent_timeout=self.syn_sent_timeout or DEFAULT_SYN_SENT_TIMEOUT,
                        syn_recv_timeout=self.syn_recv_timeout or DEFAULT_SYN_RECV_TIMEOUT,
                        conntrack_max=self.max, conntrack_count=self.count, tcp_loose=self.tcp_loose,
                        buckets=self.buckets, established_timeout=self.established_timeout,
                        own_entries=own_entries, clear=clear, source=source)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["free"] = self.free
        return d
