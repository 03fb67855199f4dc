"""Drone client: getStats round trips per second against the lab's real Drone, and the
size of the modifyStream request for 1,000 and 1,000,000 connections (must not grow)."""

from __future__ import annotations

import time

from _common import bench_lab, report, scenario

from ostinato_tcp.drone import open_drone
from ostinato_tcp.drone._encode import stream_config
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.streams import Wire, client_program, server_program, server_runs


def request_sizes(prefix: str, pb) -> dict:
    """modifyStream bytes of both ports' programs for 1,000 and 1,000,000 connections over 16
    client IPs, in the resolve form (one stream per leg) and the fast form (one per IP and leg)."""
    out = {}
    for form in ("resolve", "fast"):
        for n in (1_000, 1_000_000):
            sc = scenario(prefix, **{"connections.count": n, "connections.client_ips": 16,
                                     "connections.first_client_port": 1024, "traffic.rate": 100_000,
                                     "traffic.batches": "off", "traffic.max_build_seconds": 1e9,
                                     "traffic.drone_build": form})
            plan = make_plan(sc)
            runs = plan.space.stream_runs(plan.batches[0])
            macs = {plan.space.first_ip + i: 0x020000000000 + i for i in range(16)}
            macs[int(sc.connections.server_ip)] = 0x02FFFFFFFFFF
            wire = Wire(0x02AAAAAAAAAA, macs) if form == "fast" else None
            a = client_program(sc, runs, wire=wire)
            b = server_program(sc, server_runs(runs), wire=wire)
            out[(form, n)] = (len(stream_config(pb, 0, range(1, len(a) + 1), a).SerializeToString()),
                              len(stream_config(pb, 1, range(1, len(b) + 1), b).SerializeToString()))
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
    figures = {"getStats round trips/s (2 ports)": n / dt, "getStats latency ms": dt / n * 1000}
    for form in ("resolve", "fast"):
        for side, i in (("A", 0), ("B", 1)):
            small, big = sizes[(form, 1_000)][i], sizes[(form, 1_000_000)][i]
            figures[f"modifyStream bytes, {form} form, port {side}, N=1,000 / N=1,000,000 (ratio)"] = (
                f"{small:,} / {big:,} ({big / small:.3f})")
    report("Drone RPC", figures, out="bench-out/drone_bench.json")


if __name__ == "__main__":
    main()
