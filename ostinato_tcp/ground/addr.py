"""IPv4 and IPv6 addresses as the tool carries them: integers plus a family (4 or 6).

Tuples, streams and the verdict do arithmetic on addresses as integers; this module turns
them back into text (as conntrack prints them: IPv6 compressed, as inet_ntop does) and
into Drone's two 64-bit halves.
"""

from __future__ import annotations

import ipaddress

_TYPES = {4: ipaddress.IPv4Address, 6: ipaddress.IPv6Address}
MAX = {4: 2**32 - 1, 6: 2**128 - 1}


def family(value) -> int:
    """4 or 6, of an address object or text."""
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value.version
    return ipaddress.ip_address(str(value)).version


def text(value: int, fam: int) -> str:
    """An address as conntrack prints it."""
    return str(_TYPES[fam](value))


def to_int(value, fam: int | None = None) -> int:
    """An address (object, text or int) as an integer; ``fam`` checks the family of text."""
    if isinstance(value, int):
        return value
    addr = value if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else ipaddress.ip_address(
        str(value))
    if fam is not None and addr.version != fam:
        raise ValueError(f"{value} is not an IPv{fam} address")
    return int(addr)


def hi_lo(value: int) -> tuple[int, int]:
    """An IPv6 address as Drone's two 64-bit halves."""
    return value >> 64, value & 0xFFFFFFFFFFFFFFFF


def from_hi_lo(hi: int, lo: int) -> int:
    return (hi << 64) | lo


def host_port(host: str, port: int) -> str:
    """``10.1.1.100:8080`` or ``[fd00:1::100]:8080``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``v6-address``, ``[v6-address]`` or ``[v6-address]:port``
    as (host, port). ValueError names what is wrong."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not host:
            raise ValueError(f"{text!r} has '[' without a closing ']'")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: only ':PORT' may follow ']'")
        port = rest[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:  # a name, an IPv4 address or a bare IPv6 address: no port
        host, port = text, ""
    if not host:
        raise ValueError(f"{text!r} has no host")
    if not port:
        return host, default_port
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: port {port!r} is not 1-65535")
    return host, int(port)


def mac_text(mac: int) -> str:
    """A 48-bit MAC as ``02:00:0a:01:01:64``."""
    return ":".join(f"{(mac >> s) & 0xFF:02x}" for s in range(40, -8, -8))
