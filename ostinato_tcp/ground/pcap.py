"""The TCP segments of a classic pcap, as Drone's ``getCaptureBuffer`` returns a capture.

Micro- or nanosecond timestamps, either byte order; Ethernet II frames carrying IPv4 or
IPv6 (no extension headers) and TCP. Everything else in the capture (ARP, neighbour
discovery) is passed over.
"""

from __future__ import annotations

import struct
from typing import Iterator, NamedTuple

_PORTS = struct.Struct("!HH")
_SEQ_ACK = struct.Struct("!II")


class Segment(NamedTuple):
    """One captured TCP segment: addresses as integers, its TCP data (padding excluded)."""

    ts: float
    src: int
    dst: int
    sport: int
    dport: int
    flags: int
    seq: int
    ack: int
    data: bytes


def _records(pcap: bytes) -> Iterator[tuple[float, int, int]]:
    """(timestamp in seconds, offset of the frame, captured length) of every record."""
    if len(pcap) < 24:
        return
    magic = pcap[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    scale = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
    head = struct.Struct(endian + "IIII")
    off, n = 24, len(pcap)
    while off + 16 <= n:
        sec, frac, incl, _ = head.unpack_from(pcap, off)
        f = off + 16
        off = f + incl
        yield sec + frac * scale, f, incl


def _tcp(pcap: bytes, f: int, incl: int) -> tuple[int, int, int, int] | None:
    """(source, destination, offset of the TCP header, end of the IP payload) of a TCP frame at ``f``."""
    kind = pcap[f + 12:f + 14]
    if kind == b"\x86\xdd":
        if incl < 74 or pcap[f + 20] != 6:  # IPv6 whose next header is TCP
            return None
        end = f + 54 + int.from_bytes(pcap[f + 18:f + 20], "big")
        return (int.from_bytes(pcap[f + 22:f + 38], "big"), int.from_bytes(pcap[f + 38:f + 54], "big"), f + 54,
                min(end, f + incl))
    if kind != b"\x08\x00" or incl < 54 or pcap[f + 23] != 6:
        return None
    ihl = (pcap[f + 14] & 0x0F) * 4
    src, dst = _SEQ_ACK.unpack_from(pcap, f + 26)
    end = f + 14 + int.from_bytes(pcap[f + 16:f + 18], "big")
    return src, dst, f + 14 + ihl, min(end, f + incl)


def pcap_tcp(pcap: bytes) -> Iterator[tuple[float, int, int, int, int, int]]:
    """(timestamp s, source IP, destination IP, source port, destination port, TCP flags) of every
    IPv4/TCP and IPv6/TCP frame."""
    for ts, f, incl in _records(pcap):
        got = _tcp(pcap, f, incl)
        if got is not None:
            src, dst, t, _ = got
            sport, dport = _PORTS.unpack_from(pcap, t)
            yield ts, src, dst, sport, dport, pcap[t + 13]


def tcp_segments(pcap: bytes) -> Iterator[Segment]:
    """Every TCP segment of the capture with its sequence numbers and data."""
    for ts, f, incl in _records(pcap):
        got = _tcp(pcap, f, incl)
        if got is None or got[2] + 20 > f + incl:
            continue
        src, dst, t, end = got
        sport, dport = _PORTS.unpack_from(pcap, t)
        seq, ack = _SEQ_ACK.unpack_from(pcap, t + 4)
        data_at = t + (pcap[t + 12] >> 4) * 4
        yield Segment(ts, src, dst, sport, dport, pcap[t + 13], seq, ack, bytes(pcap[data_at:max(data_at, end)]))
