"""The connection space: which (client IP, client port) connection ``n`` uses.

This is the one place that maps connection indexes to tuples. Streams (the
values Drone's variable fields produce), the plan (uniqueness, port range) and
the verifier (which conntrack entry is which connection) all ask it.

Drone's variable fields cannot nest: each counts on its own, packet ``k`` of a
stream carrying ``value + (k mod count) * step``. Two fields whose counts ``c1``
(client IPs) and ``c2`` (client ports) are coprime give ``c1 * c2`` distinct
pairs for ``k < c1 * c2`` (Chinese remainder theorem), so any N fits without
the power-of-two mask trick.

Batches (runs of at most ``batch_size`` connections sent one after another) use
disjoint blocks of ``c2`` client ports, so tuples never repeat across batches:

    connection n = b * batch_size + k        (batch b, packet k of that batch)
    client IP    = first_ip + (k mod c1)
    client port  = first_port + (b * c2 + (k mod c2)) * step

That is the ``interleaved`` layout, which one stream per leg can send. The ``blocks``
layout gives each client IP a contiguous run of ``P`` ports instead (one stream per IP
and leg), which is what Drone's fast build needs (only the port varies inside a
stream, so the checksums can be given):

    client IP    = first_ip + k // P
    client port  = first_port + (b * P + k mod P) * step

Server ranges (``E`` server endpoints: ``server_ips`` x ``server_ports``) need the blocks
layout. The ``n_i`` connections of client IP ``i`` in a batch are split by client port
offset ``j``: endpoint ``e = j mod E`` gets the ports ``j = e, e + E, e + 2E, ...``, sent as
one stream with a fixed server address and port (so the fast build still applies), the
endpoints one after another. Connection indexes follow that send order. The client pair
(IP, port) stays unique per connection; the server endpoint only spreads the connections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ostinato_tcp.ground import addr
from ostinato_tcp.errors import PlanError

MAX_PORT = 65535


@dataclass(frozen=True)
class Batch:
    index: int
    first: int  # index of its first connection
    count: int  # connections in it


@dataclass(frozen=True)
class Servers:
    """The server endpoints: ``ip_count`` addresses from ``first_ip`` (every ``ip_step``) times
    ``port_count`` ports from ``first_port`` (every ``port_step``). Endpoint ``e`` is address
    ``e mod ip_count`` and port ``e // ip_count``."""

    first_ip: int
    first_port: int
    ip_count: int = 1
    ip_step: int = 1
    port_count: int = 1
    port_step: int = 1
    family: int = 4

    @classmethod
    def of(cls, c) -> "Servers":
        """From a scenario's ``connections`` section."""
        return cls(first_ip=int(c.server_ip), first_port=c.server_port,
                   ip_count=c.server_ips, ip_step=c.server_ip_step, port_count=c.server_ports,
                   port_step=c.server_port_step, family=c.server_ip.version)

    @property
    def count(self) -> int:
        return self.ip_count * self.port_count

    def endpoint(self, e: int) -> tuple[int, int]:
        """(server IP as int, server port) of endpoint ``e``."""
        i, p = e % self.ip_count, e // self.ip_count
        return self.first_ip + i * self.ip_step, self.first_port + p * self.port_step

    def ips(self) -> list[int]:
        return [self.first_ip + i * self.ip_step for i in range(self.ip_count)]

    def ports(self) -> list[int]:
        return [self.first_port + p * self.port_step for p in range(self.port_count)]

    def endpoints(self) -> list[tuple[int, int]]:
        return [self.endpoint(e) for e in range(self.count)]

    def last_ip(self) -> int:
        return self.first_ip + (self.ip_count - 1) * self.ip_step

    def last_port(self) -> int:
        return self.first_port + (self.port_count - 1) * self.port_step

    def describe(self) -> str:
        ip = lambda v: addr.text(v, self.family)  # noqa: E731
        if self.count == 1:
            return addr.host_port(ip(self.first_ip), self.first_port)
        ips = ip(self.first_ip) if self.ip_count == 1 else (
            f"{self.ip_count} addresses {ip(self.first_ip)}-{ip(self.last_ip())}"
            + (f" (every {self.ip_step})" if self.ip_step > 1 else ""))
        ports = str(self.first_port) if self.port_count == 1 else (
            f"{self.port_count} ports {self.first_port}-{self.last_port()}"
            + (f" (every {self.port_step})" if self.port_step > 1 else ""))
        return f"{ips} x {ports} ({self.count} endpoints)"


def _share(q: int, n: int, e_count: int) -> tuple[int, int]:
    """Position ``q`` of ``n`` connections split over ``e_count`` endpoints by ``j mod e_count``
    and sent endpoint by endpoint -> (endpoint, t), the connection's client port offset being
    ``j = e + e_count * t``."""
    base, r = divmod(n, e_count)
    big = r * (base + 1)
    if q < big:
        return divmod(q, base + 1)
    e, t = divmod(q - big, base)
    return r + e, t


def _position(e: int, t: int, n: int, e_count: int) -> int:
    """The inverse of :func:`_share`."""
    base, r = divmod(n, e_count)
    return e * base + min(e, r) + t


@dataclass(frozen=True)
class StreamFields:
    """What the streams of one batch put in Drone's variable fields (and, with server ranges,
    the fixed server endpoint of the stream; None: the space's only server)."""

    packets: int
    ip_base: int
    ip_count: int
    port_base: int
    port_count: int
    port_step: int
    server_ip: int | None = None
    server_port: int | None = None


@dataclass(frozen=True)
class ConnectionSpace:
    first_ip: int
    ip_count: int  # c1
    first_port: int
    step: int
    ports_per_batch: int  # interleaved: c2, coprime with c1; blocks: P ports per client IP
    server_ip: int
    server_port: int
    total: int
    batch_size: int
    layout_name: str = "interleaved"  # or "blocks"
    server_ip_count: int = 1
    server_ip_step: int = 1
    server_port_count: int = 1
    server_port_step: int = 1
    family: int = 4  # 4 or 6: the addresses are IPv4 or IPv6 integers

    # Construction ------------------------------------------------------------
    @classmethod
    def layout(cls, *, client_ip, client_ips, first_port: int, step: int, server_ip, server_port: int,
               total: int, batch_size: int, blocks: bool = False,
               servers: Servers | None = None) -> "ConnectionSpace":
        """Choose counts that fit the port range; ``client_ips='auto'`` picks the fewest IPs.
        ``servers``: several server endpoints (needs ``blocks``)."""
        batch_size = max(1, min(batch_size, total))
        first_ip = addr.to_int(client_ip)
        if servers is not None and servers.count > 1 and not blocks:
            raise PlanError("several server endpoints need the blocks layout (one stream per client IP)")
        args = (first_port, step, server_ip, server_port, total, batch_size, blocks, servers)
        if client_ips == "auto":
            c1 = 1
            while c1 <= 65536:
                space = cls._with_ips(first_ip, c1, *args)
                if space.last_port() <= MAX_PORT:
                    return space
                c1 += 1
            raise PlanError(f"{total} connections do not fit in the client port range even with 65536 client IPs")
        space = cls._with_ips(first_ip, int(client_ips), *args)
        if space.last_port() > MAX_PORT:
            per_ip = (MAX_PORT - first_port) // step + 1
            need = math.ceil(total / per_ip)
            raise PlanError(
                f"{total} connections over {client_ips} client IP(s) need client ports up to {space.last_port()} "
                f"(first {first_port}, step {step}), beyond {MAX_PORT}. Fix: set connections.client_ips to "
                f"{need} or more (or 'auto'), or lower connections.first_client_port")
        return space

    @classmethod
    def _with_ips(cls, first_ip, c1, first_port, step, server_ip, server_port, total, batch_size, blocks,
                  servers=None):
        c2 = math.ceil(batch_size / c1)
        while not blocks and math.gcd(c1, c2) != 1:
            c2 += 1
        srv = {} if servers is None else dict(server_ip_count=servers.ip_count, server_ip_step=servers.ip_step,
                                             server_port_count=servers.port_count,
                                             server_port_step=servers.port_step)
        return cls(first_ip=first_ip, ip_count=c1, first_port=first_port, step=step, ports_per_batch=c2,
                   server_ip=addr.to_int(server_ip), server_port=server_port, total=total,
                   batch_size=batch_size, layout_name="blocks" if blocks else "interleaved",
                   family=addr.family(server_ip) if not isinstance(server_ip, int) else 4, **srv)

    @property
    def blocks(self) -> bool:
        return self.layout_name == "blocks"

    @property
    def servers(self) -> Servers:
        return Servers(first_ip=self.server_ip, first_port=self.server_port, ip_count=self.server_ip_count,
                       ip_step=self.server_ip_step, port_count=self.server_port_count,
                       port_step=self.server_port_step, family=self.family)

    def ip_text(self, value: int) -> str:
        """An address of this space as conntrack prints it."""
        return addr.text(value, self.family)

    @property
    def endpoint_count(self) -> int:
        return self.server_ip_count * self.server_port_count

    # Batches -------------------------------------------------------------------
    @property
    def batch_count(self) -> int:
        return math.ceil(self.total / self.batch_size)

    def batches(self) -> list[Batch]:
        return [Batch(b, b * self.batch_size, min(self.batch_size, self.total - b * self.batch_size))
                for b in range(self.batch_count)]

    def stream_fields(self, batch: Batch) -> StreamFields:
        """Interleaved layout: what one stream's variable fields put in packet k of the batch."""
        if self.blocks:
            raise ValueError("the blocks layout sends one stream per client IP: use stream_runs")
        return StreamFields(packets=batch.count, ip_base=self.first_ip, ip_count=self.ip_count,
                            port_base=self.first_port + batch.index * self.ports_per_batch * self.step,
                            port_count=self.ports_per_batch, port_step=self.step)

    def stream_runs(self, batch: Batch) -> list[StreamFields]:
        """The batch as streams sent one after another, in connection order: one stream
        (interleaved), or one per client IP (blocks)."""
        if not self.blocks:
            return [self.stream_fields(batch)]
        p, runs, e_count = self.ports_per_batch, [], self.endpoint_count
        port_base = self.first_port + batch.index * p * self.step
        servers = self.servers
        for i in range(self.ip_count):
            n = min(p, batch.count - i * p)
            if n <= 0:
                break
            if e_count == 1:
                runs.append(StreamFields(packets=n, ip_base=self.first_ip + i, ip_count=1, port_base=port_base,
                                         port_count=n, port_step=self.step))
                continue
            for e in range(min(e_count, n)):
                k = (n - e + e_count - 1) // e_count
                sip, sport = servers.endpoint(e)
                runs.append(StreamFields(packets=k, ip_base=self.first_ip + i, ip_count=1,
                                         port_base=port_base + e * self.step, port_count=k,
                                         port_step=self.step * e_count, server_ip=sip, server_port=sport))
        return runs

    def last_port(self) -> int:
        last = self.batches()[-1]
        used = min(last.count, self.ports_per_batch)
        return self.first_port + ((self.batch_count - 1) * self.ports_per_batch + used - 1) * self.step

    def client_ip_range(self) -> tuple[str, str]:
        return self.ip_text(self.first_ip), self.ip_text(self.first_ip + self.ip_count - 1)

    # Mapping -----------------------------------------------------------------
    def _block_size(self, b: int, i: int) -> int:
        """Connections of client IP ``i`` in batch ``b`` (blocks layout)."""
        count = min(self.batch_size, self.total - b * self.batch_size)
        return min(self.ports_per_batch, count - i * self.ports_per_batch)

    def endpoint_of(self, n: int) -> int:
        """The server endpoint (index into :attr:`servers`) of connection ``n``."""
        e_count = self.endpoint_count
        if e_count == 1:
            return 0
        b, k = divmod(n, self.batch_size)
        i, q = divmod(k, self.ports_per_batch)
        return _share(q, self._block_size(b, i), e_count)[0]

    def server_of(self, n: int) -> tuple[int, int]:
        """(server IP as int, server port) of connection ``n``."""
        return self.servers.endpoint(self.endpoint_of(n))

    def client_of(self, n: int) -> tuple[int, int]:
        """(client IP as int, client port) of connection ``n``."""
        b, k = divmod(n, self.batch_size)
        if self.blocks:
            i, j = divmod(k, self.ports_per_batch)
            e_count = self.endpoint_count
            if e_count > 1:
                e, t = _share(j, self._block_size(b, i), e_count)
                j = e + e_count * t
            return self.first_ip + i, self.first_port + (b * self.ports_per_batch + j) * self.step
        return (self.first_ip + k % self.ip_count,
                self.first_port + (b * self.ports_per_batch + k % self.ports_per_batch) * self.step)

    def _crt(self):
        c1, c2 = self.ip_count, self.ports_per_batch
        if c1 == 1 or self.blocks:
            return 0, 1
        return c2 * pow(c2, -1, c1), c1 * pow(c1, -1, c2)

    def indexer(self):
        """A fast function (client IP int, client port) -> connection index, or -1."""
        c1, c2, step = self.ip_count, self.ports_per_batch, self.step
        first_ip, first_port, m = self.first_ip, self.first_port, self.batch_size
        batches = self.batch_count
        last_count = self.total - (batches - 1) * m
        e1, e2 = self._crt()
        mod = c1 * c2
        blocks = self.blocks
        e_count = self.endpoint_count
        block_size = self._block_size

        def index_of(ip: int, port: int) -> int:
            i = ip - first_ip
            if i < 0 or i >= c1:
                return -1
            d = port - first_port
            if d < 0:
                return -1
            j, rem = divmod(d, step)
            if rem:
                return -1
            b, r = divmod(j, c2)
            if b >= batches:
                return -1
            k = i * c2 + r if blocks else (i * e1 + r * e2) % mod
            if k >= (m if b < batches - 1 else last_count):
                return -1
            if e_count > 1:
                k = i * c2 + _position(r % e_count, r // e_count, block_size(b, i), e_count)
            return b * m + k

        return index_of

    def prove_unique(self) -> None:
        """Raise PlanError unless every connection has its own tuple (checked arithmetically)."""
        c1, c2 = self.ip_count, self.ports_per_batch
        if not self.blocks and math.gcd(c1, c2) != 1:
            raise PlanError(f"client IP count {c1} and port count {c2} are not coprime: tuples would repeat")
        if c1 * c2 < self.batch_size:
            raise PlanError(f"{c1} IPs x {c2} ports < batch size {self.batch_size}: tuples would repeat")
        if self.last_port() > MAX_PORT:
            raise PlanError(f"client ports would run past {MAX_PORT}")
        if self.first_ip + c1 - 1 > addr.MAX[self.family]:
            raise PlanError("client IPs would run past the last address")
        if self.family == 6 and (self.first_ip & 0xFFFFFFFF) + c1 - 1 > 0xFFFFFFFF:
            raise PlanError("IPv6 client IPs vary in their low 32 bits (Drone's variable field), which would "
                            "carry over; start client_ip lower in its /96")
        if self.endpoint_count > 1 and not self.blocks:
            raise PlanError("several server endpoints need the blocks layout")
        srv = self.servers
        if srv.last_ip() > addr.MAX[self.family]:
            raise PlanError("server IPs would run past the last address")
        if srv.last_port() > MAX_PORT:
            raise PlanError(f"server ports would run past {MAX_PORT}")
