"""The connection space: unique tuples at any N, an exact inverse, Drone's counting reproduced."""

from __future__ import annotations

import random

import pytest

from ostinato_tcp.errors import PlanError
from ostinato_tcp.domain.tuples import ConnectionSpace


def space(total, batch, ips=1, first_port=20000, step=1):
    return ConnectionSpace.layout(client_ip="10.1.1.100", client_ips=ips, first_port=first_port, step=step,
                                  server_ip="10.2.2.100", server_port=8080, total=total, batch_size=batch)


def drone_packet(fields, k):
    """What Drone puts in packet k: every variable field counts on its own."""
    return (fields.ip_base + (k % fields.ip_count),
            fields.port_base + (k % fields.port_count) * fields.port_step)


@pytest.mark.parametrize("total,batch,ips,step", [
    (1, 1, 1, 1), (1000, 1000, 1, 1), (1000, 300, 1, 3), (5000, 5000, 4, 1), (7001, 2000, 3, 2),
    (20000, 6000, 6, 1), (12345, 12345, 7, 5)])
def test_unique_and_invertible(total, batch, ips, step):
    sp = space(total, batch, ips, step=step)
    sp.prove_unique()
    index_of = sp.indexer()
    seen = {}
    for b in sp.batches():
        f = sp.stream_fields(b)
        for k in range(b.count):
            n = b.first + k
            tup = drone_packet(f, k)
            assert tup == sp.client_of(n)  # streams and the space agree
            assert tup not in seen, f"connection {n} repeats {seen.get(tup)}"
            seen[tup] = n
            assert index_of(*tup) == n
    assert len(seen) == total


def test_indexer_rejects_outsiders():
    sp = space(5000, 2000, ips=3, step=2)
    index_of = sp.indexer()
    inside = {sp.client_of(n) for n in range(5000)}
    rnd = random.Random(7)
    for _ in range(20000):
        ip = sp.first_ip + rnd.randint(-2, 5)
        port = rnd.randint(19990, 20000 + 2 * 4000)
        assert (index_of(ip, port) >= 0) == ((ip, port) in inside)


def test_more_than_64k_needs_several_ips():
    with pytest.raises(PlanError, match=r"set connections.client_ips to 5 or more"):
        space(200_000, 200_000, ips=1, first_port=16384)
    sp = space(200_000, 200_000, ips="auto", first_port=16384)
    assert sp.ip_count == 5
    sp.prove_unique()
    assert sp.last_port() <= 65535


def test_million_connections_layout():
    sp = space(1_000_000, 250_000, ips="auto", first_port=1024)
    sp.prove_unique()
    assert sp.batch_count == 4
    assert sp.ip_count * sp.ports_per_batch >= 250_000
    idx = sp.indexer()
    for n in (0, 1, 249_999, 250_000, 999_999, 123_457):
        assert idx(*sp.client_of(n)) == n
