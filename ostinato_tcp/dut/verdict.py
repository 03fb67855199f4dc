"""The verdict: every expected connection's conntrack entry, judged and explained.

A connection passes when its entry is ESTABLISHED and [ASSURED] (an offloaded
entry, [OFFLOAD] or [HW_OFFLOAD], is printed instead of [ASSURED] and counts as
assured) and its reply tuple is the expected one. Every other connection gets a
category that says what went wrong, and the categories are summarised into
diagnosis lines.

Dumps are read as a stream of bytes: a compiled pattern takes the common TCP
line shape in C, and lines of any other shape go through the full parser, so a
million entries are judged in a few seconds with a few MB of state (one byte per
expected connection).
"""

from __future__ import annotations

import ipaddress
import re
from array import array
from dataclasses import dataclass, field

from ..tuples import ConnectionSpace
from .conntrack import LineSplitter, ParseStats, parse_counted

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

_HEAD = (rb"^(?:ipv4 +2 +)?tcp +6 +\d+ +([A-Z_0-9]+) +src=([0-9.]+) dst=([0-9.]+) sport=(\d+) dport=(\d+)"
         rb" +(\[UNREPLIED\] +)?src=([0-9.]+) dst=([0-9.]+) sport=(\d+) dport=(\d+)"
         rb" *(\[(?:ASSURED|OFFLOAD|HW_OFFLOAD)\])?")
_FAST = re.compile(_HEAD + rb"[^\n]*$", re.M)
_FAST_AGED = re.compile(_HEAD + rb"[^\n]*? delta-time=(\d+)[^\n]*$", re.M)  # -o ktimestamp: the entry's age
_ASSURED_FLAGS = {"ASSURED", "OFFLOAD", "HW_OFFLOAD"}


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
        return str(ipaddress.IPv4Address(self.space.server_ip))

    @property
    def client_ips(self) -> list[str]:
        return [str(ipaddress.IPv4Address(self.space.first_ip + i)) for i in range(self.space.ip_count)]

    def reply_of(self, n: int) -> tuple[str, str, int, int]:
        """Expected reply tuple (src, dst, sport, dport) of connection ``n``."""
        ip, port = self.space.client_of(n)
        if self.nat_mode == "preserve-ports":
            dst = self.nat_address
        elif self.nat_mode == "learn" and self.learned_ip is not None and self.learned_ip[n]:
            dst, port = str(ipaddress.IPv4Address(self.learned_ip[n])), self.learned_port[n]
        else:
            dst = str(ipaddress.IPv4Address(ip))
        return self.server_ip, dst, self.space.server_port, port

    def original_of(self, n: int) -> tuple[str, str, int, int]:
        ip, port = self.space.client_of(n)
        return str(ipaddress.IPv4Address(ip)), self.server_ip, port, self.space.server_port


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

    def connections_in(self, category: str, limit: int = 5) -> list[int]:
        code = {v: k for k, v in CATEGORY_NAMES.items()}[category]
        out, start = [], 0
        while len(out) < limit:
            i = self.codes.find(code, start)
            if i < 0:
                break
            out.append(i)
            start = i + 1
        return out


def _count_codes(codes: bytearray) -> list[int]:
    return [codes.count(c) for c in range(len(CATEGORY_NAMES))]


class Judge:
    """Feeds dump bytes in chunks; ``finish()`` returns the Verdict. With ``max_age`` (the
    dump carries ``delta-time=``, the entry's age in seconds), an entry older than that
    was not made by this run: it is ``older_than_the_run``, never a pass."""

    def __init__(self, expected: Expected, *, sample_limit: int = 10, max_age: int | None = None):
        self.exp = expected
        self.max_age = max_age
        self.untimed = 0  # entries of expected connections without an age (made before timestamps were on)
        sp = expected.space
        self.codes = bytearray(sp.total)
        self.states: dict[str, int] = {}
        self.index_of = sp.indexer()
        self.client_ip_int = {ip.encode(): sp.first_ip + i for i, ip in enumerate(expected.client_ips)}
        self.server_ip = expected.server_ip.encode()
        self.server_port = sp.server_port
        self.nat_mode = expected.nat_mode
        self.nat_addr = (expected.nat_address or "").encode()
        self.exclude = {(s.encode(), int(sp_), d.encode(), int(dp)) for s, sp_, d, dp in expected.exclude}
        self.sample_limit = sample_limit
        self.stats = ParseStats()
        self.unexpected = 0
        self.unexpected_samples: list[str] = []
        self.mismatch_samples: list[str] = []
        self.duplicates = 0
        self.other_states: dict[str, int] = {}
        self.reply_dsts: dict[str, int] = {}
        self.reply_samples: list[str] = []
        self._lines = LineSplitter()
        self._seen = bytearray(sp.total)  # entries found per connection (for duplicates)

    # Input -------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        block = self._lines.feed(chunk)
        if block:
            self._block(block)

    def _block(self, block: bytes) -> None:
        fast = _FAST if self.max_age is None else _FAST_AGED
        matches = fast.findall(block)
        if len(matches) != block.count(b"\n"):
            # Some lines have another shape: take them one by one.
            for raw in block.splitlines():
                m = fast.match(raw)
                if m:
                    self.stats.entries += 1
                    self._judge(*m.groups())
                else:
                    self._slow(raw)
            return
        self.stats.entries += len(matches)
        # The common case, kept tight: a passing entry of the expected shape costs a
        # dict lookup, an index computation and a few byte comparisons.
        judge, index_of, codes, seen = self._judge, self.index_of, self.codes, self._seen
        client_ip_int, server_ip = self.client_ip_int, self.server_ip
        server_port_b = str(self.server_port).encode()
        plain = self.nat_mode == "none" and not self.exclude
        loose_ok = not self.exp.require_assured
        max_age = self.max_age if self.max_age is not None else -1
        passed = 0
        for g in matches:
            if (plain and g[0] == b"ESTABLISHED" and (g[10] or loose_ok) and g[2] == server_ip and g[4] == server_port_b
                    and g[6] == server_ip and g[8] == server_port_b and g[7] == g[1] and g[9] == g[3]
                    and (max_age < 0 or int(g[11]) <= max_age)):
                ip = client_ip_int.get(g[1])
                if ip is not None:
                    n = index_of(ip, int(g[3]))
                    if n >= 0 and not seen[n]:
                        seen[n] = 1
                        codes[n] = PASS
                        passed += 1
                        continue
            judge(*g)
        if passed:
            self.states["ESTABLISHED"] = self.states.get("ESTABLISHED", 0) + passed

    def _slow(self, raw: bytes) -> None:
        e = parse_counted(raw, self.stats)
        if e is None:
            return
        if e.proto != "tcp" or e.family != "ipv4":
            return
        o, r = e.orig, e.reply
        if any(k not in t for t in (o, r) for k in ("src", "dst", "sport", "dport")):
            self.stats.unknown += 1  # a TCP line without both whole tuples is not an entry we can judge
            return
        age = e.meta.get("delta-time")
        self._judge((e.state or "NONE").encode(), o["src"].encode(), o["dst"].encode(), str(o["sport"]).encode(),
                    str(o["dport"]).encode(), b"[UNREPLIED]" if e.unreplied else None, r["src"].encode(),
                    r["dst"].encode(), str(r["sport"]).encode(), str(r["dport"]).encode(),
                    b"[x]" if e.flags & _ASSURED_FLAGS else None, *((str(age).encode(),) if isinstance(age, int) else ()))

    # Judging ------------------------------------------------------------------------
    def _judge(self, state, osrc, odst, osport, odport, unreplied, rsrc, rdst, rsport, rdport, assured,
               age=None) -> None:
        osport_i, odport_i = int(osport), int(odport)
        if (osrc, osport_i, odst, odport_i) in self.exclude:
            return
        ip = self.client_ip_int.get(osrc)
        n = -1
        if ip is not None and odst == self.server_ip and odport_i == self.server_port:
            n = self.index_of(ip, osport_i)
        if n < 0:
            in_space = (odst == self.server_ip and odport_i == self.server_port) or \
                       (osrc == self.server_ip and osport_i == self.server_port)
            if in_space:
                self.unexpected += 1
                if len(self.unexpected_samples) < self.sample_limit:
                    self.unexpected_samples.append(
                        f"{state.decode()} src={osrc.decode()} dst={odst.decode()} sport={osport_i} dport={odport_i}")
            return
        st = state.decode()
        self.states[st] = self.states.get(st, 0) + 1
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
        if rsrc != self.server_ip or rsport != self.server_port:
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

    def finish(self) -> Verdict:
        rest = self._lines.flush()
        if rest:
            self._block(rest)
        return Verdict(expected=self.exp.space.total, codes=self.codes, states=dict(sorted(self.states.items())),
                       unexpected=self.unexpected, unexpected_samples=self.unexpected_samples,
                       duplicates=self.duplicates, mismatch_samples=self.mismatch_samples,
                       other_states=self.other_states, parse=self.stats,
                       reply_dsts=self.reply_dsts, reply_samples=self.reply_samples,
                       max_age=self.max_age, untimed=self.untimed)


def judge_text(expected: Expected, text: str | bytes) -> Verdict:
    j = Judge(expected)
    j.feed(text.encode() if isinstance(text, str) else text)
    return j.finish()


# ------------------------------------------------------------------------------ diagnosis
def failed_blocks(v: Verdict, category: str, limit: int = 3) -> list[tuple[int, int]]:
    """The largest runs of consecutive connections in ``category``: (first, last), largest first."""
    code = {name: k for k, name in CATEGORY_NAMES.items()}[category]
    spans = [(m.start(), m.end() - 1) for m in re.finditer(re.escape(bytes([code])) + b"+", v.codes)]
    spans.sort(key=lambda s: s[0] - s[1])
    return spans[:limit]


def _where(plan, first: int, last: int) -> str:
    """Connections first..last, with their batch and when in it their SYNs were planned."""
    n = last - first + 1
    text = f"#{first}-#{last} ({n})" if n > 1 else f"#{first}"
    if plan is None:
        return text
    m, r = plan.space.batch_size, plan.rate
    b0, b1 = first // m, last // m
    if b0 != b1:
        return f"{text}, batches {b0 + 1}-{b1 + 1} of {len(plan.timings)}"
    k0, k1 = first - b0 * m, last - b0 * m
    return f"{text}, batch {b0 + 1} of {len(plan.timings)}, SYNs planned {k0 / r:.3f}-{k1 / r:.3f} s into it"


def _as_sent(orders, plan, which: str) -> str:
    """What Drone's captures say of the order the packets left in (pipelined batches)."""
    if not orders or plan is None or plan.delay is None:
        return ""
    timed = [o for o in orders if o.timed]
    if not timed:
        return ""
    clock = "" if all(o.same_clock for o in timed) else " (two Drone hosts: their clocks' offset is in these figures)"
    m = plan.space.batch_size
    if which == "synack_first":
        blocks = [(o.batch * m + a, o.batch * m + b, w) for o in timed for a, b, w in o.synack_first]
        low = min(o.min_syn_to_synack for o in timed)
        planned, lead, behind = plan.delay, "SYN-ACKs", "port A fell behind port B"
        follow = "SYNs"
    else:
        blocks = [(o.batch * m + a, o.batch * m + b, w) for o in timed for a, b, w in o.ack_first]
        low = min(o.min_synack_to_ack for o in timed)
        planned, lead, behind = m / plan.rate - plan.delay, "ACKs", "port B fell behind port A"
        follow = "SYN-ACKs"
    if not blocks:
        return (f" As sent, the order held (Drone's captures: the smallest margin was {low:.3f} s of the planned "
                f"{planned:.3f} s), so the packets were reordered after they left Drone: on the links or in the "
                f"DUT{clock}.")
    blocks.sort(key=lambda b: b[0] - b[1])
    first, last, worst = blocks[0]
    total = sum(b - a + 1 for a, b, _ in blocks)
    return (f" As sent (Drone's captures), the {lead} of {total} connection(s) left before their {follow}, "
            f"e.g. #{first}-#{last} by up to {-worst:.3f} s: {behind} by up to {planned - low:.3f} s against a "
            f"planned margin of {planned:.3f} s{clock}.")


def diagnose(v: Verdict, exp: Expected, *, counter_deltas: dict[str, int] | None = None,
             tcp_loose: int | None = None, notes: list[str] | None = None, plan=None,
             sent_order: list | None = None) -> list[str]:
    """Lines that say what failed and why, most likely cause first. ``plan`` places failed
    connections in their batch and send time; ``sent_order`` (measure.SentOrder per batch)
    says in which order Drone sent them."""
    d = counter_deltas or {}
    c = v.counts
    out: list[str] = list(notes or [])

    def blocks(cat: str) -> str:
        found = failed_blocks(v, cat)
        if not found:
            return ""
        more = c[cat] - sum(b - a + 1 for a, b in found)
        return (" Where: " + "; ".join(_where(plan, a, b) for a, b in found)
                + (f"; and {more} more elsewhere" if more > 0 else "") + ".")

    def example(cat: str) -> str:
        ids = v.connections_in(cat, 3)
        if not ids:
            return ""
        shown = ", ".join(f"{o[0]}:{o[2]}" for o in (exp.original_of(i) for i in ids))
        return f" (e.g. {shown})"

    if c["missing"]:
        extra = []
        for k in ("early_drop", "drop", "insert_failed"):
            if d.get(k):
                extra.append(f"{k} +{d[k]}")
        cause = ("the table was full or entries were evicted (" + ", ".join(extra) + ")" if extra else
                 "their SYN never reached the DUT (port A, its ARP/route to the DUT) or the entries were cleared "
                 "or timed out before the dump")
        out.append(f"{c['missing']} connection(s) have no conntrack entry{example('missing')}: {cause}."
                   f"{blocks('missing')}")
    if c["syn_sent_unreplied"]:
        hint = ""
        if exp.nat_mode != "none":
            seen = {ip: n for ip, n in v.reply_dsts.items() if ip != exp.nat_address}
            if exp.nat_mode == "preserve-ports" and seen:
                ip, n = max(seen.items(), key=lambda kv: kv[1])
                hint += (f" The DUT translates the clients to {ip} ({n} entries), not to nat.address "
                         f"{exp.nat_address}: set nat.address: {ip}")
        n_ss, inv, n_sr = c["syn_sent_unreplied"], d.get("invalid", 0), c["syn_recv"]
        as_sent = ""
        if exp.nat_mode != "none":
            cause = ("no SYN-ACK matched them: it never reached the DUT, or went to another address or port than "
                     "the one the NAT chose")
        elif inv == 0:
            cause = ("the SYN-ACK never reached the DUT (the invalid counter did not move, so none arrived early): "
                     "port B's stream, its ARP for the DUT's B-side gateway, or the route back")
        elif inv >= 1.8 * n_ss and not n_sr:
            cause = (f"their SYN-ACKs reached the DUT before their SYNs: the DUT's invalid counter rose by {inv}, "
                     "two per connection (the early SYN-ACK, then the ACK of an entry still in SYN_SENT)")
            as_sent = _as_sent(sent_order, plan, "synack_first")
        else:
            early = min(n_ss, inv // 2)
            cause = (f"the evidence is mixed: the invalid counter rose by {inv} for {n_ss} connection(s) in SYN_SENT"
                     + (f" and {n_sr} in SYN_RECV" if n_sr else "")
                     + f". A SYN-ACK that came before its SYN counts two, one that never came counts none: up to "
                     f"{early} may have had their SYN-ACK early, at least {n_ss - early} never got one")
            as_sent = _as_sent(sent_order, plan, "synack_first")
        out.append(f"{n_ss} in SYN_SENT [UNREPLIED]{example('syn_sent_unreplied')}: {cause}.{as_sent}"
                   f"{blocks('syn_sent_unreplied')}{hint}")
    if c["syn_recv"]:
        inv = d.get("invalid", 0)
        if inv >= c["syn_recv"] * 0.5:
            out.append(f"{c['syn_recv']} in SYN_RECV{example('syn_recv')}: the DUT's invalid counter rose by {inv}, "
                       "so the ACKs reached the DUT before the SYN-ACKs and were dropped as invalid (the SYN-ACKs "
                       "came too late: delay too long, or port B lagged)."
                       f"{_as_sent(sent_order, plan, 'ack_first')}{blocks('syn_recv')}")
        else:
            out.append(f"{c['syn_recv']} in SYN_RECV{example('syn_recv')}: the ACK never arrived (invalid +{inv}, "
                       "so not dropped as out of order): port A's ACK stream did not reach the DUT, or the entries "
                       f"waited longer than the SYN_RECV timeout.{blocks('syn_recv')}")
    if c["established_not_assured"]:
        loose = f"nf_conntrack_tcp_loose={tcp_loose}" if tcp_loose is not None else "nf_conntrack_tcp_loose"
        out.append(f"{c['established_not_assured']} ESTABLISHED without [ASSURED]{example('established_not_assured')}"
                   f": picked up mid-stream ({loose}: a lone ACK creates such an entry) or no reply was seen")
    if c["other_state"]:
        states = ", ".join(f"{k} {n}" for k, n in sorted(v.other_states.items()))
        out.append(f"{c['other_state']} in other states ({states}){example('other_state')}: closed or reset "
                   "connections, or leftovers of an earlier run")
    if c["reply_mismatch"]:
        sample = "; ".join(v.mismatch_samples[:2])
        out.append(f"{c['reply_mismatch']} entries have another reply tuple than expected ({sample})"
                   + (": the DUT translated to another address/port than nat.address" if exp.nat_mode != "none"
                      else ""))
    if v.unexpected:
        out.append(f"{v.unexpected} unexpected entr{'y' if v.unexpected == 1 else 'ies'} inside the test's address "
                   f"space (e.g. {v.unexpected_samples[0]}): leftovers of an earlier run, or traffic from "
                   "someone else to the test server")
    if c.get("older_than_the_run"):
        out.append(f"{c['older_than_the_run']} entr{'y is' if c['older_than_the_run'] == 1 else 'ies are'} older "
                   f"than this run (conntrack's delta-time above {v.max_age} s){example('older_than_the_run')}: "
                   "left by an earlier run, so they prove nothing about this one")
    if v.duplicates:
        out.append(f"{v.duplicates} expected connection(s) appear more than once (conntrack zones?)")
    if v.parse.unknown:
        out.append(f"{v.parse.unknown} dump line(s) were not understood and were skipped, e.g. "
                   f"{v.parse.samples[0]!r}")
    return out
