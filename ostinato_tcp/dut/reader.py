"""``conntrack -L`` text, streamed, into the verdict's normalized entries.

A compiled pattern takes the common TCP line shape in C (``findall`` over a block of whole
lines gives the entries as tuples of bytes, in the order :class:`~ostinato_tcp.domain.verdict.Judge`
takes them); a block with a line of another shape goes line by line, and a line the pattern does
not take goes through the full parser (:mod:`.entries`). Lines that are not entries are counted,
never fatal. ``/proc/net/nf_conntrack`` lines (a leading ``ipv4 2``) are taken the same way.
"""

from __future__ import annotations

import re

from ostinato_tcp.domain.verdict import Judge, ParseStats, Verdict
from ostinato_tcp.dut.entries import LineSplitter, parse_counted

_HEAD = (rb"^(?:ipv[46] +(?:2|10) +)?tcp +6 +\d+ +([A-Z_0-9]+) +src=([0-9a-f.:]+) dst=([0-9a-f.:]+) sport=(\d+)"
         rb" dport=(\d+) +(\[UNREPLIED\] +)?src=([0-9a-f.:]+) dst=([0-9a-f.:]+) sport=(\d+) dport=(\d+)"
         rb" *(\[(?:ASSURED|OFFLOAD|HW_OFFLOAD)\])?")
_FAST = re.compile(_HEAD + rb"[^\n]*$", re.M)
_FAST_AGED = re.compile(_HEAD + rb"[^\n]*? delta-time=(\d+)[^\n]*$", re.M)  # -o ktimestamp: the entry's age
_ASSURED_FLAGS = {"ASSURED", "OFFLOAD", "HW_OFFLOAD"}


class EntryReader:
    """Feeds dump bytes, in any chunks, to ``sink`` as batches of normalized entries (with
    ``ages``, lines carry ``delta-time=``: the entry's age is the twelfth field); entries of
    another protocol or address family than ``family`` are left out. :meth:`finish` returns what
    was read."""

    def __init__(self, sink, *, ages: bool = False, family: int = 4):
        self.sink = sink
        self.stats = ParseStats()
        self._lines = LineSplitter()
        self._fast = _FAST_AGED if ages else _FAST
        self._family = "ipv6" if family == 6 else "ipv4"

    def feed(self, chunk: bytes) -> None:
        block = self._lines.feed(chunk)
        if block:
            self._block(block)

    def _block(self, block: bytes) -> None:
        fast = self._fast
        matches = fast.findall(block)
        if len(matches) == block.count(b"\n"):
            self.stats.entries += len(matches)
            self.sink(matches)
            return
        for raw in block.splitlines():  # some lines have another shape: one by one
            m = fast.match(raw)
            if m:
                self.stats.entries += 1
                self.sink((m.groups(),))
            else:
                self._slow(raw)

    def _slow(self, raw: bytes) -> None:
        e = parse_counted(raw, self.stats)
        if e is None or e.proto != "tcp" or e.family != self._family:
            return
        o, r = e.orig, e.reply
        if any(k not in t for t in (o, r) for k in ("src", "dst", "sport", "dport")):
            self.stats.unknown += 1  # a TCP line without both whole tuples is not an entry we can judge
            return
        age = e.meta.get("delta-time")
        self.sink(((
            (e.state or "NONE").encode(), o["src"].encode(), o["dst"].encode(), str(o["sport"]).encode(),
            str(o["dport"]).encode(), b"[UNREPLIED]" if e.unreplied else None, r["src"].encode(), r["dst"].encode(),
            str(r["sport"]).encode(), str(r["dport"]).encode(), b"[x]" if e.flags & _ASSURED_FLAGS else None,
            *((str(age).encode(),) if isinstance(age, int) else ())),))

    def finish(self) -> ParseStats:
        rest = self._lines.flush()
        if rest:
            self._block(rest)
        return self.stats


class ConntrackReader:
    """A ``conntrack -L`` text fed to a Judge, in any chunks; :meth:`finish` returns the Verdict."""

    def __init__(self, judge: Judge):
        self.judge = judge
        self.entries = EntryReader(judge.take, ages=judge.wants_ages, family=judge.family)

    def feed(self, chunk: bytes) -> None:
        self.entries.feed(chunk)

    def finish(self) -> Verdict:
        return self.judge.finish(self.entries.finish())


def judge_text(expected, text: str | bytes, *, track_states: bool = False) -> Verdict:
    """The verdict over a whole ``conntrack -L`` text."""
    reader = ConntrackReader(Judge(expected, track_states=track_states))
    reader.feed(text.encode() if isinstance(text, str) else text)
    return reader.finish()
