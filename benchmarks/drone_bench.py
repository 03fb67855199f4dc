"""Drone client: getStats round trips per second against the lab's real Drone, and the
size of the modifyStream request for 1,000 and 1,000,000 connections (must not grow)."""

from __future__ import annotations

import time

from _common import bench_lab, report, scenario

from ostinato_tcp.drone import open_drone
from ostinato_tcp.plan import make_plan
from ostinato_tcp.streams import client_streams, server_runs, server_streams


def request_sizes(prefix: str, pb) -> dict:
    out = {}
    for n in (1_000, 1_000_000):
        sc = scenario(prefix, **{"connections.count": n, "connections.client_ips": 16,
                                 "connections.first_client_port": 1024, "traffic.rate": 100_000,
                                 "traffic.batches": "off", "traffic.max_build_seconds": 1e9})
        plan = make_plan(sc)
        f = plan.space.stream_fields(plan.batches[0])
        a = client_streams(pb, sc, port_id=0, syn_id=1, ack_id=2, fields=f)
        b = server_streams(pb, sc, port_id=1, stream_ids=[3], runs=server_runs(f))
        out[n] = (len(a.SerializeToString()), len(b.SerializeToString()))
    return out


def main() -> None:
    with bench_lab() as (lab, eps):
        with open_drone(eps.drone_a["host"], eps.drone_a["port"]) as d:
            ports = [d.find_port("porta"), d.find_port("portb")]
            ids = d.port_id_list(ports)
            for _ in range(50):
                d.getStats(ids)
            n = 3000
            t0 = time.perf_counter()
            for _ in range(n):
                d.getStats(ids)
            dt = time.perf_counter() - t0
            sizes = request_sizes(lab.config.prefix, d.pb)
    report("Drone RPC", {
        "getStats round trips/s (2 ports)": n / dt,
        "getStats latency ms": dt / n * 1000,
        "modifyStream bytes, port A, N=1,000": sizes[1_000][0],
        "modifyStream bytes, port A, N=1,000,000": sizes[1_000_000][0],
        "modifyStream bytes, port B, N=1,000": sizes[1_000][1],
        "modifyStream bytes, port B, N=1,000,000": sizes[1_000_000][1],
        "ratio port A 1M/1k": sizes[1_000_000][0] / sizes[1_000][0],
    }, out="bench-out/drone_bench.json")


if __name__ == "__main__":
    main()
