"""The traffic proof: which connections' data segments crossed the DUT, each way, unchanged
apart from the translation the DUT's table holds for them.

After the handshake port A sends one data segment per connection to the server and port B
one to the client (:func:`ostinato_tcp.domain.streams.legs_for` ``"data"``). Each carries
its port's tag (the run's, with A's and B's own low byte) and its place in its port's data
program; the tool knows which connection every place is (:func:`places`). Drone captures on
both ports: each port's capture holds the segments it sent (the evidence that they left) and
the other port's that arrived through the DUT.

A segment *crossed* when it arrived at the other port with every header field as a
segment of that connection leaves the DUT: towards the server, from the client's address
and port as translated (the reply tuple's destination), to the server's; towards the
client, from the server to the client's own address and port; sequence and acknowledgment
numbers and data as sent. A tagged segment that arrived with any of those fields otherwise
is *changed*: the field is named (``mistranslated``), and the connection does not count as
carried that way.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ostinato_tcp.domain.streams import DATA_BYTES, StreamSpec
from ostinato_tcp.domain.verdict import Expected
from ostinato_tcp.ground.pcap import Segment

A_TO_B, B_TO_A = 1, 2  # a connection's bits: its segment towards the server / towards the client
FIELDS = ("source address", "source port", "destination address", "destination port", "sequence number",
          "acknowledgment number", "data")


def port_tags(run_tag: int) -> tuple[int, int]:
    """Port A's and port B's payload tags, from a run's 32-bit tag: its upper three bytes, then 0xA1 or 0xB1."""
    base = run_tag & 0xFFFFFF00
    return base | 0xA1, base | 0xB1


def places(program: Iterable[StreamSpec], lookup: Callable[[int, int], int]) -> array:
    """The connection each place of a data program is (-1: none), from the client address and
    port its packet carries (the source for A's segments, the destination for B's), looked up
    with ``lookup(ip, port)``."""
    out = array("l")
    for s in program:
        if s.payload_tag is None:
            continue
        if len(out) < s.payload_first + s.count:
            out.extend([-1] * (s.payload_first + s.count - len(out)))
        ipc, pc, step = s.client_ip_count, s.client_port_count, s.client_port_step
        for k in range(s.count):
            out[s.payload_first + k] = lookup(s.client_ip + k % ipc, s.client_port + (k % pc) * step)
    return out


@dataclass
class CarryVerdict:
    """Per connection, which of its two segments left their port and which crossed the DUT."""

    expected: int
    crossed: bytearray  # A_TO_B | B_TO_A per connection: arrived as the connection's segment leaves the DUT
    sent: bytearray  # A_TO_B | B_TO_A per connection: its port's own capture saw the segment leave
    changed: bytearray  # A_TO_B | B_TO_A per connection: arrived with a field otherwise
    mistranslated: dict[str, int] = field(default_factory=dict)  # field -> segments that arrived so
    samples: list[str] = field(default_factory=list)  # a few changed segments, as seen
    unknown: int = 0  # tagged segments whose place named no connection of the run
    duplicates: int = 0  # a connection's segment seen arriving more than once
    frames: dict[str, int] = field(default_factory=dict)  # TCP frames read in each port's capture

    def count(self, bits: int, of: bytearray | None = None) -> int:
        data = self.crossed if of is None else of
        return sum(data.count(v) for v in range(4) if v & bits == bits)

    @property
    def both(self) -> int:
        return self.crossed.count(A_TO_B | B_TO_A)

    @property
    def a_to_b(self) -> int:
        return self.count(A_TO_B)

    @property
    def b_to_a(self) -> int:
        return self.count(B_TO_A)

    @property
    def sent_a(self) -> int:
        return self.count(A_TO_B, self.sent)

    @property
    def sent_b(self) -> int:
        return self.count(B_TO_A, self.sent)

    @property
    def passed(self) -> bool:
        return self.both == self.expected

    def connections(self, crossed: int, limit: int = 3) -> list[int]:
        """The first connections whose crossed bits are exactly ``crossed``."""
        out, i = [], self.crossed.find(crossed)
        while i >= 0 and len(out) < limit:
            out.append(i)
            i = self.crossed.find(crossed, i + 1)
        return out

    def to_dict(self) -> dict:
        n = self.expected
        return {"expected": n, "carried_both_ways": self.both, "a_to_b": self.a_to_b, "b_to_a": self.b_to_a,
                "a_to_b_only": self.crossed.count(A_TO_B), "b_to_a_only": self.crossed.count(B_TO_A),
                "neither": self.crossed.count(0), "sent_by_a": self.sent_a, "sent_by_b": self.sent_b,
                "changed": {"a_to_b": self.count(A_TO_B, self.changed), "b_to_a": self.count(B_TO_A, self.changed)},
                "mistranslated": dict(self.mistranslated), "samples": list(self.samples),
                "unknown_segments": self.unknown, "duplicates": self.duplicates, "frames_read": dict(self.frames)}


class Arrivals:
    """How connection ``n``'s segments leave the DUT, as integers: ``towards_server(n)`` and
    ``towards_client(n)`` give (source, source port, destination, destination port, seq, ack)."""

    def __init__(self, expected: Expected, client_isn: int, server_isn: int):
        self.exp = expected
        self.sp = expected.space
        m = 0xFFFFFFFF
        self.c1, self.s1 = (client_isn + 1) & m, (server_isn + 1) & m
        self.nat_ip = int(_ip(expected.nat_address)) if expected.nat_address else None

    def towards_server(self, n: int) -> tuple[int | None, int | None, int, int, int, int]:
        ip, port = self.sp.client_of(n)
        sip, sport = self.sp.server_of(n)
        mode = self.exp.nat_mode
        if mode == "preserve-ports":
            ip = self.nat_ip
        elif mode == "learn":
            learned = self.exp.learned_ip
            if learned is not None and learned[n]:
                ip, port = learned[n], self.exp.learned_port[n]
            else:
                ip = port = None  # nothing learned: any translation is taken
        return ip, port, sip, sport, self.c1, self.s1

    def towards_client(self, n: int) -> tuple[int, int, int, int, int, int]:
        ip, port = self.sp.client_of(n)
        sip, sport = self.sp.server_of(n)
        return sip, sport, ip, port, self.s1, self.c1


def _ip(text: str):
    import ipaddress

    return ipaddress.ip_address(text)


class CarryJudge:
    """Reads both ports' captures of the data segments into a :class:`CarryVerdict`; a send in
    batches gives each batch's places before its captures are read."""

    def __init__(self, expected: Expected, arrivals: Arrivals, tags: tuple[int, int], place_a: array | None = None,
                 place_b: array | None = None, sample_limit: int = 5):
        n = expected.space.total
        # which connection each place of A's and B's data programs is: set per capture read (a batch's)
        self.arrivals, self.place_a, self.place_b = arrivals, place_a or array("l"), place_b or array("l")
        self.tag_a, self.tag_b = (t.to_bytes(4, "big") for t in tags)
        self.v = CarryVerdict(expected=n, crossed=bytearray(n), sent=bytearray(n), changed=bytearray(n))
        self.sample_limit = sample_limit
        self.text = expected.space.ip_text

    def read(self, side: str, segments: Iterable[Segment]) -> tuple[int, int]:
        """Port ``side``'s capture: its own segments (sent) and the other port's (arrived). Returns
        how many of each the capture held."""
        own, other = (self.tag_a, self.tag_b) if side == "a" else (self.tag_b, self.tag_a)
        own_places, other_places = (self.place_a, self.place_b) if side == "a" else (self.place_b, self.place_a)
        own_bit, other_bit = (A_TO_B, B_TO_A) if side == "a" else (B_TO_A, A_TO_B)
        v = self.v
        frames = seen_own = seen_other = 0
        for seg in segments:
            frames += 1
            data = seg.data
            if len(data) < DATA_BYTES:
                continue
            tag = data[:4]
            if tag != own and tag != other:
                continue
            place = int.from_bytes(data[4:8], "big")
            places = own_places if tag == own else other_places
            n = places[place] if place < len(places) else -1
            if n < 0:
                v.unknown += 1
                continue
            if tag == own:
                seen_own += 1
                v.sent[n] |= own_bit
                continue
            seen_other += 1
            self._arrived(n, other_bit, seg)
        v.frames[side] = v.frames.get(side, 0) + frames
        return seen_own, seen_other

    def _arrived(self, n: int, bit: int, seg: Segment) -> None:
        v = self.v
        want = self.arrivals.towards_server(n) if bit == A_TO_B else self.arrivals.towards_client(n)
        got = (seg.src, seg.sport, seg.dst, seg.dport, seg.seq, seg.ack)
        wrong = [FIELDS[i] for i, (w, g) in enumerate(zip(want, got)) if w is not None and w != g]
        if len(seg.data) != DATA_BYTES:
            wrong.append("data")
        if wrong:
            v.changed[n] |= bit
            for f in wrong:
                v.mistranslated[f] = v.mistranslated.get(f, 0) + 1
            if len(v.samples) < self.sample_limit:
                way = "towards the server" if bit == A_TO_B else "towards the client"
                v.samples.append(f"connection {n} {way}: arrived {self.text(seg.src)}:{seg.sport} -> "
                                 f"{self.text(seg.dst)}:{seg.dport} seq {seg.seq} ack {seg.ack}; "
                                 + ", ".join(f"{f} expected {_show(want[FIELDS.index(f)], f, self.text)}"
                                             for f in wrong if f != "data"))
            return
        if v.crossed[n] & bit:
            v.duplicates += 1
        v.crossed[n] |= bit

    def finish(self) -> CarryVerdict:
        return self.v


def _show(value, name: str, text) -> str:
    return text(value) if name.endswith("address") else str(value)
