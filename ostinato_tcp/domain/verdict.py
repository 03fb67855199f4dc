"""The verdict: every expected connection's conntrack entry, judged and explained.

A connection passes when its entry is ESTABLISHED and [ASSURED] (an offloaded
entry, [OFFLOAD] or [HW_OFFLOAD], is printed instead of [ASSURED] and counts as
assured) and its reply tuple is the expected one. Every other connection gets a
category that says what went wrong (:mod:`.diagnosis` turns the categories into
lines that say why).

Entries come in as normalized tuples, whatever DUT driver read them
(:meth:`Judge.take`): ``(state, orig src, orig dst, orig sport, orig dport, b"[UNREPLIED]" or
None, reply src, reply dst, reply sport, reply dport, assured flag or None[, age])``, each field
bytes as the DUT printed it. The conntrack driver makes them in C with one compiled pattern
(:mod:`ostinato_tcp.dut.reader`), so a million entries are judged in a few seconds with a few MB
of state (one byte per expected connection).
"""

from __future__ import annotations

import ipaddress
from array import array
from dataclasses import dataclass, field

from ostinato_tcp.domain.tuples import ConnectionSpace

# Category codes, one byte per expected connection.
MISSING, PASS, SYN_SENT, SYN_RECV, EST_NOT_ASSURED, OTHER_STATE, REPLY_MISMATCH, STALE = range(8)
CATEGORY_NAMES = {
    MISSING: "missing",
    PASS: "established_assured",
    SYN_SENT: "syn_sent_unreplied",
    SYN_RECV: "syn_recv",
    EST_NOT_ASSURED: "established_not_assured",
    OTHER_STATE: "other_state",
    REPLY_MISMATCH: "reply_mismatch",
    STALE: "older_than_the_run",
}



@dataclass
class ParseStats:
    """What a reader made of a dump: entries read, lines it did not understand (a few kept to show)."""

    entries: int = 0
    unknown: int = 0
    samples: list = field(default_factory=list)

    def add_unknown(self, line: str, keep: int = 5) -> None:
        self.unknown += 1
        if len(self.samples) < keep:
            self.samples.append(line.rstrip("\n")[:300])


@dataclass
class Expected:
    """The exact set of expected connections and their expected reply tuples."""

    space: ConnectionSpace
    nat_mode: str = "none"  # none | preserve-ports | learn
    nat_address: str | None = None
    learned_ip: array | None = None  # learn mode: translated IP (int) per connection
    learned_port: array | None = None
    exclude: set = field(default_factory=set)  # (src, sport, dst, dport) never counted, e.g. the SSH session
    require_assured: bool = True  # expect.assured: false accepts ESTABLISHED without [ASSURED]

    @property
    def server_ip(self) -> str:
        return self.space.ip_text(self.space.server_ip)

    @property
    def client_ips(self) -> list[str]:
        return [self.space.ip_text(self.space.first_ip + i) for i in range(self.space.ip_count)]

    def server_of(self, n: int) -> tuple[str, int]:
        """(server address, server port) of connection ``n``."""
        ip, port = self.space.server_of(n)
        return self.space.ip_text(ip), port

    def reply_of(self, n: int) -> tuple[str, str, int, int]:
        """Expected reply tuple (src, dst, sport, dport) of connection ``n``."""
        ip, port = self.space.client_of(n)
        sip, sport = self.server_of(n)
        if self.nat_mode == "preserve-ports":
            dst = self.nat_address
        elif self.nat_mode == "learn" and self.learned_ip is not None and self.learned_ip[n]:
            dst, port = str(ipaddress.IPv4Address(self.learned_ip[n])), self.learned_port[n]
        else:
            dst = self.space.ip_text(ip)
        return sip, dst, sport, port

    def original_of(self, n: int) -> tuple[str, str, int, int]:
        ip, port = self.space.client_of(n)
        sip, sport = self.server_of(n)
        return self.space.ip_text(ip), sip, port, sport


@dataclass
class Verdict:
    expected: int
    codes: bytearray
    states: dict[str, int]
    unexpected: int = 0
    unexpected_samples: list[str] = field(default_factory=list)
    duplicates: int = 0
    mismatch_samples: list[str] = field(default_factory=list)
    other_states: dict[str, int] = field(default_factory=dict)
    parse: ParseStats = field(default_factory=ParseStats)
    reply_dsts: dict[str, int] = field(default_factory=dict)  # NAT modes: reply destination -> entries
    reply_samples: list[str] = field(default_factory=list)
    max_age: int | None = None  # entries older than this (seconds) were not made by the run
    untimed: int = 0  # entries judged without an age although ages were asked for
    state_ids: bytearray | None = None  # with track_states: each connection's state (index into state_names + 1)
    state_names: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out = {name: 0 for name in CATEGORY_NAMES.values()}
        for code, n in enumerate(_count_codes(self.codes)):
            if n:
                out[CATEGORY_NAMES[code]] = n
        return out

    @property
    def established_assured(self) -> int:
        return self.codes.count(PASS)

    @property
    def passed(self) -> bool:
        return self.established_assured == self.expected

    def connections_in_state(self, state: str, limit: int = 5) -> list[int]:
        """Connections whose entry is in ``state`` (needs a Judge with ``track_states``)."""
        if self.state_ids is None or state not in self.state_names:
            return []
        return _positions(self.state_ids, self.state_names.index(state) + 1, limit)

    def connections_in(self, category: str, limit: int = 5) -> list[int]:
        code = {v: k for k, v in CATEGORY_NAMES.items()}[category]
        return _positions(self.codes, code, limit)


def per_endpoint(v: Verdict, space: ConnectionSpace) -> list[dict]:
    """Expected and ESTABLISHED+ASSURED connections of each server endpoint."""
    srv = space.servers
    expected, passed = [0] * srv.count, [0] * srv.count
    endpoint_of, codes = space.endpoint_of, v.codes
    if srv.count == 1:
        expected[0], passed[0] = space.total, v.established_assured
    for n in range(space.total if srv.count > 1 else 0):
        e = endpoint_of(n)
        expected[e] += 1
        if codes[n] == PASS:
            passed[e] += 1
    return [{"server": f"[{space.ip_text(ip)}]:{port}" if space.family == 6 else f"{space.ip_text(ip)}:{port}",
             "expected": expected[e],
             "established_assured": passed[e]} for e, (ip, port) in enumerate(srv.endpoints())]


def _norm6(text: bytes) -> bytes:
    try:
        return str(ipaddress.ip_address(text.decode())).encode()
    except ValueError:
        return text


def _positions(values: bytearray, value: int, limit: int) -> list[int]:
    """The first ``limit`` indexes holding ``value``."""
    out, i = [], values.find(value)
    while i >= 0 and len(out) < limit:
        out.append(i)
        i = values.find(value, i + 1)
    return out


def _count_codes(codes: bytearray) -> list[int]:
    return [codes.count(c) for c in range(len(CATEGORY_NAMES))]


class Judge:
    """Feeds dump bytes in chunks; ``finish()`` returns the Verdict. With ``max_age`` (the
    dump carries ``delta-time=``, the entry's age in seconds), an entry older than that
    was not made by this run: it is ``older_than_the_run``, never a pass."""

    def __init__(self, expected: Expected, *, sample_limit: int = 10, max_age: int | None = None,
                 track_states: bool = False):
        self.exp = expected
        # each connection's state, when asked (a tear-down's verdict needs the state of each)
        self.state_ids = bytearray(expected.space.total) if track_states else None
        self.state_names: list[str] = []
        self.max_age = max_age
        self.untimed = 0  # entries of expected connections without an age (made before timestamps were on)
        sp = expected.space
        self.codes = bytearray(sp.total)
        self.states: dict[str, int] = {}
        self.index_of = sp.indexer()
        self.client_ip_int = {ip.encode(): sp.first_ip + i for i, ip in enumerate(expected.client_ips)}
        self.server_ip = expected.server_ip.encode()
        self.server_port = sp.server_port
        # several server endpoints: which one each connection goes to
        eps = sp.servers.endpoints()
        self.endpoint_of = sp.endpoint_of if len(eps) > 1 else None
        self.endpoints = [(sp.ip_text(ip).encode(), port) for ip, port in eps]
        self.server_ips = {ip for ip, _ in self.endpoints}
        self.server_ports = {port for _, port in self.endpoints}
        self.nat_mode = expected.nat_mode
        self.nat_addr = (expected.nat_address or "").encode()
        self.exclude = {(s.encode(), int(sp_), d.encode(), int(dp)) for s, sp_, d, dp in expected.exclude}
        self.sample_limit = sample_limit
        self.unexpected = 0
        self.unexpected_samples: list[str] = []
        self.mismatch_samples: list[str] = []
        self.duplicates = 0
        self.other_states: dict[str, int] = {}
        self.reply_dsts: dict[str, int] = {}
        self.reply_samples: list[str] = []
        self._seen = bytearray(sp.total)  # entries found per connection (for duplicates)

    # Input -------------------------------------------------------------------------
    @property
    def family(self) -> int:
        """The address family of the expected connections (4 or 6)."""
        return self.exp.space.family

    @property
    def wants_ages(self) -> bool:
        """Entries must carry their age (the twelfth field): the run's per-entry freshness proof."""
        return self.max_age is not None

    def take(self, entries) -> None:
        """Judge a batch of normalized entry tuples (see the module's docstring)."""
        # The common case, kept tight: a passing entry of the expected shape costs a
        # dict lookup, an index computation and a few byte comparisons.
        judge, index_of, codes, seen = self._judge, self.index_of, self.codes, self._seen
        client_ip_int, server_ip = self.client_ip_int, self.server_ip
        server_port_b = str(self.server_port).encode()
        plain = self.nat_mode == "none" and not self.exclude
        loose_ok = not self.exp.require_assured
        max_age = self.max_age if self.max_age is not None else -1
        ids = self.state_ids
        est = self._state_id("ESTABLISHED") if ids is not None else 0
        passed = 0
        endpoint_of, endpoints = self.endpoint_of, self.endpoints
        for g in entries:
            if (plain and g[0] == b"ESTABLISHED" and (g[10] or loose_ok)
                    and (endpoint_of is not None or (g[2] == server_ip and g[4] == server_port_b))
                    and g[6] == g[2] and g[8] == g[4] and g[7] == g[1] and g[9] == g[3]
                    and (max_age < 0 or (len(g) > 11 and g[11] is not None and int(g[11]) <= max_age))):
                ip = client_ip_int.get(g[1])
                if ip is not None:
                    n = index_of(ip, int(g[3]))
                    if n >= 0 and endpoint_of is not None and endpoints[endpoint_of(n)] != (g[2], int(g[4])):
                        n = -1
                    if n >= 0 and not seen[n]:
                        seen[n] = 1
                        codes[n] = PASS
                        if ids is not None:
                            ids[n] = est
                        passed += 1
                        continue
            judge(*g)
        if passed:
            self.states["ESTABLISHED"] = self.states.get("ESTABLISHED", 0) + passed

    def _state_id(self, st: str) -> int:
        if st not in self.state_names:
            self.state_names.append(st)
        return self.state_names.index(st) + 1



    # Judging ------------------------------------------------------------------------
    def _judge(self, state, osrc, odst, osport, odport, unreplied, rsrc, rdst, rsport, rdport, assured,
               age=None) -> None:
        if b":" in osrc:  # IPv6 as this conntrack printed it, in the one form the verdict compares
            osrc, odst, rsrc, rdst = (_norm6(x) for x in (osrc, odst, rsrc, rdst))
        osport_i, odport_i = int(osport), int(odport)
        if (osrc, osport_i, odst, odport_i) in self.exclude:
            return
        ip = self.client_ip_int.get(osrc)
        n = -1
        if ip is not None and odst in self.server_ips and odport_i in self.server_ports:
            n = self.index_of(ip, osport_i)
            if n >= 0 and self.endpoint_of is not None and self.endpoints[self.endpoint_of(n)] != (odst, odport_i):
                n = -1  # the client pair of connection n, to another server: not that connection
        if n < 0:
            in_space = (odst in self.server_ips and odport_i in self.server_ports) or \
                       (osrc in self.server_ips and osport_i in self.server_ports)
            if in_space:
                self.unexpected += 1
                if len(self.unexpected_samples) < self.sample_limit:
                    self.unexpected_samples.append(
                        f"{state.decode()} src={osrc.decode()} dst={odst.decode()} sport={osport_i} dport={odport_i}")
            return
        st = state.decode()
        self.states[st] = self.states.get(st, 0) + 1
        if self.state_ids is not None:
            self.state_ids[n] = self._state_id(st)
        if self._seen[n]:
            self.duplicates += 1
        self._seen[n] = 1
        if st == "ESTABLISHED":
            code = PASS if assured or not self.exp.require_assured else EST_NOT_ASSURED
        elif st == "SYN_SENT":
            code = SYN_SENT
        elif st == "SYN_RECV":
            code = SYN_RECV
        else:
            code = OTHER_STATE
            self.other_states[st] = self.other_states.get(st, 0) + 1
        if self.nat_mode != "none":
            dst = rdst.decode()
            self.reply_dsts[dst] = self.reply_dsts.get(dst, 0) + 1
            if len(self.reply_samples) < 3:
                self.reply_samples.append(f"{st} src={osrc.decode()} sport={osport_i} -> reply src={rsrc.decode()} "
                                          f"dst={dst} sport={rsport.decode()} dport={rdport.decode()}")
        if code == PASS or code == EST_NOT_ASSURED or code == SYN_RECV:
            # A reply was seen: its tuple must be the expected one.
            if not self._reply_ok(n, osrc, osport_i, rsrc, rdst, int(rsport), int(rdport)):
                code = REPLY_MISMATCH
                if len(self.mismatch_samples) < self.sample_limit:
                    exp = self.exp.reply_of(n)
                    self.mismatch_samples.append(
                        f"src={osrc.decode()} sport={osport_i}: reply src={rsrc.decode()} dst={rdst.decode()} "
                        f"sport={rsport.decode()} dport={rdport.decode()}, expected dst={exp[1]} dport={exp[3]}")
        if self.max_age is not None:
            if age is None:
                self.untimed += 1
            elif int(age) > self.max_age:
                code = STALE
        if self.codes[n] != PASS:  # a duplicate never hides a passing entry
            self.codes[n] = code

    def _reply_ok(self, n, osrc, osport, rsrc, rdst, rsport, rdport) -> bool:
        server = self.endpoints[self.endpoint_of(n)] if self.endpoint_of is not None else self.endpoints[0]
        if (rsrc, rsport) != server:
            return False
        if self.nat_mode == "none":
            return rdst == osrc and rdport == osport
        if self.nat_mode == "preserve-ports":
            return rdst == self.nat_addr and rdport == osport
        learned_ip = self.exp.learned_ip
        if learned_ip is None or not learned_ip[n]:
            return True  # nothing learned for it: any translation is accepted
        return (rdst == str(ipaddress.IPv4Address(learned_ip[n])).encode()
                and rdport == self.exp.learned_port[n])

    def finish(self, parse: ParseStats | None = None) -> Verdict:
        """The verdict; ``parse``: what the reader made of the dump (entries read, lines not understood)."""
        return Verdict(expected=self.exp.space.total, codes=self.codes, states=dict(sorted(self.states.items())),
                       unexpected=self.unexpected, unexpected_samples=self.unexpected_samples,
                       duplicates=self.duplicates, mismatch_samples=self.mismatch_samples,
                       other_states=self.other_states, parse=parse or ParseStats(),
                       reply_dsts=self.reply_dsts, reply_samples=self.reply_samples,
                       max_age=self.max_age, untimed=self.untimed, state_ids=self.state_ids,
                       state_names=list(self.state_names))
