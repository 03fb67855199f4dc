"""Parsing conntrack-tools output and /proc/net/nf_conntrack lines.

Understood shapes (one entry per line):

* ``conntrack -L`` default text, for tcp/udp/icmp/icmpv6/sctp/dccp/gre and unknown
  layer-4 protocols, IPv4 and IPv6;
* ``-o extended`` (a leading ``ipv4 2`` / ``ipv6 10``), ``-o id`` (``id=``),
  ``-o labels`` (``labels=``), ``-o ktimestamp`` (``[start=...] [stop=...]``);
* ``/proc/net/nf_conntrack`` (the extended shape with ``zone=0``).

Per entry: layer-3 and layer-4 protocol, timeout, state, the original and reply
tuples (addresses, ports, ICMP type/code/id, GRE keys, per-direction zone and
packet/byte counters), the flags [UNREPLIED], [ASSURED], [OFFLOAD],
[HW_OFFLOAD], and mark=, secmark=, secctx=, zone=, use=, id=, labels=, helper=,
delta-time=.

A line that is not an entry is counted (and a few kept to show), never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ostinato_tcp.domain.verdict import ParseStats

L3 = {"ipv4", "ipv6"}
STATE_FLAGS = {"[ASSURED]": "ASSURED", "[OFFLOAD]": "OFFLOAD", "[HW_OFFLOAD]": "HW_OFFLOAD"}
TUPLE_KEYS = {"src", "dst", "sport", "dport", "type", "code", "id", "srckey", "dstkey", "packets", "bytes",
              "zone-orig", "zone-reply"}
INT_META = {"mark", "secmark", "zone", "use", "id", "delta-time"}
_ICMP = {"icmp", "icmpv6"}


@dataclass(slots=True)
class Entry:
    proto: str
    protonum: int
    timeout: int | None
    state: str | None
    orig: dict
    reply: dict
    l3: str | None = None
    l3num: int | None = None
    unreplied: bool = False
    flags: frozenset = frozenset()
    meta: dict = field(default_factory=dict)

    @property
    def assured(self) -> bool:
        return "ASSURED" in self.flags

    @property
    def family(self) -> str:
        if self.l3:
            return self.l3
        return "ipv6" if ":" in self.orig.get("src", "") else "ipv4"

    @property
    def mark(self) -> int | None:
        return self.meta.get("mark")

    @property
    def id(self) -> int | None:
        return self.meta.get("id")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.meta.get("labels", ())


class ParseError(ValueError):
    pass


def _int(v: str):
    try:
        return int(v)
    except ValueError:
        return v


def parse_line(line: str) -> Entry:
    """One entry from one line; raises ParseError when the line is not an entry."""
    toks = line.split()
    if len(toks) < 4:
        raise ParseError("too short")
    i = 0
    l3 = l3num = None
    if toks[0] in L3:
        l3, l3num, i = toks[0], _int(toks[1]), 2
    proto = toks[i]
    try:
        protonum = int(toks[i + 1])
        timeout = int(toks[i + 2])
    except (ValueError, IndexError):
        raise ParseError("no protocol number and timeout") from None
    j = i + 3
    state = None
    if j < len(toks) and "=" not in toks[j] and not toks[j].startswith("["):
        state = toks[j]
        j += 1
    orig: dict = {}
    reply: dict = {}
    meta: dict = {}
    flags = []
    unreplied = False
    phase = 0  # 0 original tuple, 1 reply tuple, 2 after the tuples
    icmp = proto in _ICMP
    rest = toks[j:]
    k_ = 0
    while k_ < len(rest):
        tok = rest[k_]
        k_ += 1
        if tok[0] == "[" and not tok.endswith("]"):  # '[start=Wed Nov 25 17:32:33 2026]'
            while k_ < len(rest) and not tok.endswith("]"):
                tok += " " + rest[k_]
                k_ += 1
        if tok[0] == "[":
            if tok == "[UNREPLIED]":
                unreplied = True
            elif tok in STATE_FLAGS:
                flags.append(STATE_FLAGS[tok])
                phase = 2
            elif tok.startswith(("[start=", "[stop=")):
                k, _, v = tok[1:-1].partition("=")
                meta[k] = v
            else:
                meta.setdefault("unknown_flags", []).append(tok)
            continue
        k, sep, v = tok.partition("=")
        if not sep:
            raise ParseError(f"unexpected word {tok!r}")
        if phase < 2 and k in TUPLE_KEYS and not (k == "id" and not icmp):
            cur = orig if phase == 0 else reply
            if k == "src" and "src" in cur:
                if phase == 1:
                    raise ParseError("a third tuple")
                phase, cur = 1, reply
            elif k in cur and k != "src":
                phase = 2
                meta[k] = _int(v)
                continue
            if k in ("src", "dst"):
                cur[k] = v
            elif k in ("sport", "dport", "type", "code", "id"):
                if not (v.isascii() and v.isdigit()):
                    raise ParseError(f"{k}={v!r} is not a number")
                cur[k] = int(v)
            else:
                cur[k] = _int(v)  # e.g. GRE keys, 0x...
            continue
        phase = 2
        if k == "labels":
            meta["labels"] = tuple(v.split(",")) if v else ()
        elif k in INT_META:
            meta[k] = _int(v)
        else:
            meta[k] = v
    if "src" not in orig or "dst" not in orig:
        raise ParseError("no original tuple")
    return Entry(proto=proto, protonum=protonum, timeout=timeout, state=state, orig=orig, reply=reply,
                 l3=l3, l3num=l3num, unreplied=unreplied, flags=frozenset(flags), meta=meta)


def parse_counted(line: str | bytes, stats: ParseStats) -> Entry | None:
    """The entry of one line, or None: blank lines and conntrack's closing line are
    skipped, anything else that is not an entry is counted in ``stats``."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    if not line.strip() or line.startswith("conntrack v"):
        return None
    try:
        entry = parse_line(line)
    except ParseError:
        stats.add_unknown(line)
        return None
    stats.entries += 1
    return entry


def parse_lines(lines: Iterable[str], stats: ParseStats | None = None) -> Iterator[Entry]:
    """Entries of ``lines``; lines that are not entries go to ``stats``."""
    stats = stats if stats is not None else ParseStats()
    for line in lines:
        entry = parse_counted(line, stats)
        if entry is not None:
            yield entry


class LineSplitter:
    """Bytes arriving in any chunks -> blocks of complete lines."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._tail + chunk
        cut = data.rfind(b"\n") + 1
        self._tail = data[cut:]
        return data[:cut]

    def flush(self) -> bytes:
        rest, self._tail = self._tail, b""
        return rest + b"\n" if rest else b""


def parse_text(text: str) -> tuple[list[Entry], ParseStats]:
    stats = ParseStats()
    return list(parse_lines(text.splitlines(), stats)), stats


def parse_stats_output(text: str) -> dict[str, int]:
    """``conntrack -S`` (one line per CPU) -> counters summed over CPUs."""
    totals: dict[str, int] = {}
    for line in text.splitlines():
        for tok in line.split():
            k, sep, v = tok.partition("=")
            if sep and k != "cpu" and v.isdigit():
                totals[k] = totals.get(k, 0) + int(v)
    return totals


# /proc/net/stat/nf_conntrack: a header of column names, then one row of hexadecimal numbers per
# CPU. The columns conntrack -S also prints get its names; the rest (always 0 or a global count)
# are left out.
_PROC_STAT_NAMES = {"found": "found", "invalid": "invalid", "insert": "insert", "insert_failed": "insert_failed",
                    "drop": "drop", "early_drop": "early_drop", "icmp_error": "error",
                    "search_restart": "search_restart", "clashres": "clash_resolve", "chainlength": "chaintoolong"}


def parse_proc_stats(text: str) -> dict[str, int]:
    """``/proc/net/stat/nf_conntrack`` -> the counters of ``conntrack -S``, summed over CPUs."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0][0] != "entries":
        return {}
    header = lines[0]
    totals = {name: 0 for col, name in _PROC_STAT_NAMES.items() if col in header}
    for row in lines[1:]:
        if len(row) != len(header):
            continue
        try:
            values = [int(v, 16) for v in row]
        except ValueError:
            continue
        for col, v in zip(header, values):
            name = _PROC_STAT_NAMES.get(col)
            if name is not None:
                totals[name] += v
    return totals
