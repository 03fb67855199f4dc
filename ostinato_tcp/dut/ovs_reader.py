"""Open vSwitch's userspace conntrack (``ovs-appctl dpctl/dump-conntrack -m``) into the
verdict's normalized entries.

The userspace (``netdev``) datapath tracks TCP as BSD's pf does: one state per peer and no
ASSURED bit (``status=0`` on every line). Its merged ``state=`` (the listing without ``-m``)
says ESTABLISHED as soon as the client's side is, which happens when the SYN-ACK passes: a
connection whose final ACK never crossed the box reads ``state=ESTABLISHED`` there
(``state_orig=ESTABLISHED,state_reply=SYN_SENT`` with ``-m``; seen on 3.1.0,
tests/fixtures/ovs). So the reader takes ``-m`` lines only and maps the two peers' states
onto the kernel's names, which the verdict judges:

=================================  ==========================  =====================
state_orig, state_reply            the entry as judged         why
=================================  ==========================  =====================
ESTABLISHED, ESTABLISHED           ESTABLISHED, assured        the server's SYN-ACK was acknowledged: the
                                                               whole handshake crossed the box
ESTABLISHED, SYN_SENT              SYN_RECV                    SYN-ACK seen, final ACK not
SYN_SENT, CLOSED (or LISTEN)       SYN_SENT, unreplied         no SYN-ACK seen
the same state on both             that state (FIN_WAIT_1/2    a closing connection
                                   as FIN_WAIT, CLOSED as
                                   CLOSE)
ESTABLISHED, another state         ESTABLISHED/that state      no handshake seen from the server's side
two other states                   the client's, as above
=================================  ==========================  =====================

A TCP line of another shape is counted as unknown, never judged: one without ``-m``'s two
states (its ESTABLISHED would not prove the final ACK), and one whose ``status=`` carries flags,
as the kernel datapath's lines do (it has the kernel's ASSURED bit, which this table does not
read; only the userspace datapath's output was captured). Entries of another zone than ``zone``
(when given; a line without ``zone=`` is zone 0) and of another protocol or family are left out.
"""

from __future__ import annotations

import re

from ostinato_tcp.domain.verdict import ParseStats
from ostinato_tcp.dut.entries import LineSplitter

_LINE = re.compile(
    rb"^tcp,orig=\(src=([0-9a-f.:]+),dst=([0-9a-f.:]+),sport=(\d+),dport=(\d+)\),"
    rb"reply=\(src=([0-9a-f.:]+),dst=([0-9a-f.:]+),sport=(\d+),dport=(\d+)\),"
    rb"([^\n]*?)protoinfo=\(state_orig=([A-Z_0-9]+),state_reply=([A-Z_0-9]+)")
_ZONE = re.compile(rb"(?:^|,)zone=(\d+),")
_STATUS = re.compile(rb"(?:^|,)status=([^,]*),")
_KERNEL_NAME = {b"FIN_WAIT_1": b"FIN_WAIT", b"FIN_WAIT_2": b"FIN_WAIT", b"CLOSED": b"CLOSE", b"CLOSING": b"CLOSE"}
_UNREPLIED = b"[UNREPLIED]"
_ASSURED = b"[x]"


def peer_states(orig: bytes, reply: bytes) -> tuple[bytes, bytes | None, bytes | None]:
    """(state as the kernel names it, unreplied flag, assured flag) of an entry whose client
    and server peers are in ``orig`` and ``reply`` (see the module's table)."""
    if orig == b"ESTABLISHED" and reply == b"ESTABLISHED":
        return b"ESTABLISHED", None, _ASSURED
    if orig == b"ESTABLISHED" and reply == b"SYN_SENT":
        return b"SYN_RECV", None, None
    if orig == b"SYN_SENT" and reply in (b"CLOSED", b"LISTEN"):
        return b"SYN_SENT", _UNREPLIED, None
    if orig == reply or orig != b"ESTABLISHED":
        return _KERNEL_NAME.get(orig, orig), None, None
    return b"ESTABLISHED/" + reply, None, None  # picked up without the server's side of a handshake


class OvsEntryReader:
    """Feeds ``dpctl/dump-conntrack -m`` bytes, in any chunks, to ``sink`` as batches of
    normalized entries (the interface of :class:`~ostinato_tcp.dut.reader.EntryReader`; there are
    no ages to give); :meth:`finish` returns what was read."""

    def __init__(self, sink, *, ages: bool = False, family: int = 4, zone: int | None = None):
        if ages:
            raise ValueError("Open vSwitch's conntrack listing gives no entry ages")
        self.sink = sink
        self.stats = ParseStats()
        self._lines = LineSplitter()
        self._v6 = family == 6
        self._zone = zone

    def feed(self, chunk: bytes) -> None:
        block = self._lines.feed(chunk)
        if block:
            self._block(block)

    def _block(self, block: bytes) -> None:
        out = []
        for raw in block.splitlines():
            if not raw.startswith(b"tcp,"):
                if raw.strip() and not raw.startswith((b"udp,", b"icmp,", b"icmpv6,", b"sctp,", b"#")):
                    self.stats.add_unknown(raw.decode(errors="replace"))
                continue
            m = _LINE.match(raw)
            if m is None:
                self.stats.add_unknown(raw.decode(errors="replace"))
                continue
            osrc, odst, osport, odport, rsrc, rdst, rsport, rdport, middle, s_orig, s_reply = m.groups()
            status = _STATUS.search(middle)
            if status is not None and status.group(1) != b"0":  # the kernel datapath's flags: not this reader's
                self.stats.add_unknown(raw.decode(errors="replace"))
                continue
            if (b":" in osrc) != self._v6:
                continue
            zone = _ZONE.search(middle)
            if self._zone is not None and int(zone.group(1) if zone else 0) != self._zone:
                continue
            state, unreplied, assured = peer_states(s_orig, s_reply)
            self.stats.entries += 1
            out.append((state, osrc, odst, osport, odport, unreplied, rsrc, rdst, rsport, rdport, assured))
        if out:
            self.sink(out)

    def finish(self) -> ParseStats:
        rest = self._lines.flush()
        if rest:
            self._block(rest)
        return self.stats
