"""IPv4 and TCP checksums of the handshake segments, computed by the tool for Drone.

Drone builds every frame before it sends, and per frame it recomputes both checksums
(drone-build-cost: about two thirds of what a frame costs once the MACs are fixed).
Where only a port varies along a stream, the IPv4 header is constant and the TCP
checksum moves by a fixed amount per packet, so the tool gives Drone the first
packet's checksum and a variable field that steps it.

Ones' complement: when a 16-bit word of the summed data grows by ``step``, the folded
sum S grows by ``step`` and the checksum (~S) falls by ``step``, except where S passes
0xFFFF: the end-around carry makes the checksum one lower than a plain 16-bit
down-counter gives from there on. A stream is split at that point (a run of at most
65,535 port steps passes it at most once).

The handshake's segments carry no data (IPv4 total length 40); the traffic proof's carry 8
bytes (a tag, then a 32-bit counter: it adds 1 to the folded sum per packet, its carry out of
the low word included, so such a stream's sum moves by the port step + 1). Their fields are
Drone's defaults for what the tool does not set: IPv4 ToS 0, identification 1234, no flags,
TTL 127; TCP data offset 5, no urgent pointer.
"""

from __future__ import annotations

import struct

IP_TTL, IP_ID, IP_TOTLEN, PROTO_TCP = 127, 1234, 40, 6
TCP_HEADER = 20


def _sum16(data: bytes) -> int:
    """Ones' complement sum of 16-bit words, folded to 16 bits (0..0xFFFF)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ipv4_header(src: int, dst: int, *, cksum: int = 0, totlen: int = IP_TOTLEN) -> bytes:
    return struct.pack("!BBHHHBBHII", 0x45, 0, totlen, IP_ID, 0, IP_TTL, PROTO_TCP, cksum, src, dst)


def ipv4_checksum(src: int, dst: int, totlen: int = IP_TOTLEN) -> int:
    return ~_sum16(ipv4_header(src, dst, totlen=totlen)) & 0xFFFF


def tcp_header(sport: int, dport: int, seq: int, ack: int, flags: int, window: int, *, cksum: int = 0) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, window, cksum, 0)


def tcp_sum(src: int, dst: int, sport: int, dport: int, seq: int, ack: int, flags: int, window: int,
            data: bytes = b"") -> int:
    """The folded ones' complement sum S over the pseudo-header, the TCP header and ``data``
    (checksum = ~S); addresses above 32 bits take the IPv6 pseudo-header (RFC 8200 section 8.1)."""
    length = TCP_HEADER + len(data)
    if src > 0xFFFFFFFF or dst > 0xFFFFFFFF:
        pseudo = src.to_bytes(16, "big") + dst.to_bytes(16, "big") + struct.pack("!IxxxB", length, PROTO_TCP)
    else:
        pseudo = struct.pack("!IIBBH", src, dst, 0, PROTO_TCP, length)
    return _sum16(pseudo + tcp_header(sport, dport, seq, ack, flags, window) + data)


def tcp_checksum(src: int, dst: int, sport: int, dport: int, seq: int, ack: int, flags: int, window: int,
                 data: bytes = b"") -> int:
    return ~tcp_sum(src, dst, sport, dport, seq, ack, flags, window, data) & 0xFFFF


def split_at_wraps(first_sum: int, count: int, step: int) -> list[tuple[int, int]]:
    """(first packet index, packets) of the pieces of a stream whose checksum can be a plain
    16-bit down-counter: packet k's sum is ``first_sum + k * step`` (folded); a piece ends
    before the sum passes 0xFFFF."""
    pieces, k, s = [], 0, first_sum
    while k < count:
        room = (0xFFFF - s) // step + 1 if s <= 0xFFFF else 1  # packets before the sum passes 0xFFFF
        n = min(count - k, max(1, room))
        pieces.append((k, n))
        s = s + n * step
        while s > 0xFFFF:
            s -= 0xFFFF
        k += n
    return pieces


def internet_checksum_ok(data: bytes) -> bool:
    """True when ``data`` (a header or pseudo-header + segment, checksum included) sums to 0xFFFF."""
    return _sum16(data) == 0xFFFF
