"""Does Drone build two ports at once? The facts the run's build parallelism rests on.

On the benchmark lab's Drone, a fast-form program of PACKETS SYNs is loaded on port A and on
port B, and the build RPCs are timed (median of 3):
1. A alone, B alone;
2. A then B on one connection (what one connection can do: Drone answers a connection's
   requests one after the other);
3. (not measured: the client does not multiplex one connection between threads; both wait on
   each other's replies, so a run opens a connection per port instead);
4. A and B on two connections, one per port, from two threads;
5. two Drone processes in the traffic generator's namespace (the lab's, and a second one on
   another RPC port), each owning one of the two ports: A on the first, B on the second;
   then both transmit their port's program at once, to show they can share the machine.
Figures: seconds and the overlap ratio (A alone + B alone) / wall time (2.0: fully side by
side; 1.0: one after the other).
"""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
from dataclasses import replace

from _common import bench_lab, report, scenario

from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.streams import Wire, client_devices, client_program
from ostinato_tcp.drone import open_drone
from ostinato_tcp.drone._encode import device_group_config, stream_config
from ostinato_tcp.lab._sys import wait_drone, which

PACKETS = 40_000  # one client IP's ports 20000-59999: about 2 s of build per port here
SECOND_DRONE_PORT = 7979
GROUP, FIRST_STREAM = 951, 961


def _load(d, port_name: str, sc, plan, first_ip: int) -> int:
    """A fast-form SYN program of PACKETS frames on ``port_name`` of Drone ``d``; returns its port id."""
    port = d.find_port(port_name)
    d.addDeviceGroup(d.device_group_id_list(port, [GROUP]))
    d.modifyDeviceGroup(device_group_config(d.pb, d.emul, port, GROUP, client_devices(sc, first_ip, 1)))
    syn = client_program(sc, plan.space.stream_runs(plan.batches[0]))[0]
    syn = replace(syn, client_ip=first_ip)
    fast = Wire(0x02AABBCCDD01, {first_ip: 0x02AABBCCDD02}).fast(syn)
    cfg = stream_config(d.pb, port, range(FIRST_STREAM, FIRST_STREAM + len(fast)), fast)
    d.addStream(d.stream_id_list(port, [s.stream_id.id for s in cfg.stream]))
    d.modifyStream(cfg)
    return port


def _unload(d, port: int) -> None:
    ids = [s.stream_id.id for s in d.getStreamConfig(d.stream_id_list(port, d.stream_ids(port))).stream
           if FIRST_STREAM <= s.stream_id.id < FIRST_STREAM + 100]
    if ids:
        d.deleteStream(d.stream_id_list(port, ids))
    d.deleteDeviceGroup(d.device_group_id_list(port, [GROUP]))


def _build(d, port: int, cfg_again) -> float:
    cfg_again()  # a changed stream is built again
    bc = d.pb.BuildConfig()
    bc.port_id.id = port
    t0 = time.perf_counter()
    d.build(bc, timeout=600)
    return time.perf_counter() - t0


def _together(*jobs) -> float:
    """Wall time of the jobs run from one thread each."""
    errors = []

    def wrap(job):
        try:
            job()
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(j,)) for j in jobs]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0


def _rebuild_cfg(d, port: int):
    cfg = d.getStreamConfig(d.stream_id_list(port, [FIRST_STREAM]))
    return lambda: d.modifyStream(cfg)


def main() -> None:
    figures: dict = {}
    with bench_lab() as (lab, eps):
        sc = scenario(lab.config.prefix, **{"connections.count": PACKETS, "connections.first_client_port": 20000,
                                            "traffic.rate": 100_000, "traffic.batches": "off"})
        plan = make_plan(sc, force=True)
        host, rpc = eps.drone_a["host"], eps.drone_a["port"]
        a_ip, b_ip = plan.space.first_ip, plan.space.first_ip + 1
        with open_drone(host, rpc, timeout=600) as d1, open_drone(host, rpc, timeout=600) as d2:
            pa, pb = _load(d1, "porta", sc, plan, a_ip), _load(d1, "portb", sc, plan, b_ip)
            ra, rb = _rebuild_cfg(d1, pa), _rebuild_cfg(d1, pb)
            try:
                alone_a = statistics.median(_build(d1, pa, ra) for _ in range(3))
                alone_b = statistics.median(_build(d1, pb, rb) for _ in range(3))
                serial = statistics.median(_build(d1, pa, ra) + _build(d1, pb, rb) for _ in range(3))
                rb2 = _rebuild_cfg(d2, pb)
                two = statistics.median(_together(lambda: _build(d1, pa, ra), lambda: _build(d2, pb, rb2))
                                        for _ in range(3))
            finally:
                _unload(d1, pa)
                _unload(d1, pb)
        both = alone_a + alone_b
        figures.update({
            "packets per port": PACKETS,
            "1. A alone s": alone_a, "1. B alone s": alone_b,
            "1. ms per packet (A alone)": alone_a / PACKETS * 1000,
            "2. A then B, one connection s": serial,
            "4. A and B on two connections s": two,
            "4. overlap (A + B alone) / wall": both / two,
        })

        # 5. a second Drone process in the same namespace, on another RPC port
        log = lab.config.state_dir / "bench-drone2.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([which("ip"), "netns", "exec", lab.config.ns_tg, which("drone"), "-p",
                                     str(SECOND_DRONE_PORT)], stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            wait_drone(host, SECOND_DRONE_PORT, 30, "a second Drone", proc, log)
            with open_drone(host, rpc, timeout=600) as d1, open_drone(host, SECOND_DRONE_PORT, timeout=600) as d2:
                pa, pb = _load(d1, "porta", sc, plan, a_ip), _load(d2, "portb", sc, plan, b_ip)
                ra, rb = _rebuild_cfg(d1, pa), _rebuild_cfg(d2, pb)
                try:
                    procs = statistics.median(_together(lambda: _build(d1, pa, ra), lambda: _build(d2, pb, rb))
                                              for _ in range(3))
                    # both transmit at once, each its own port
                    for d, p in ((d1, pa), (d2, pb)):
                        d.clearStats(d.port_id_list([p]))
                    t0 = time.perf_counter()
                    d1.startTransmit(d1.port_id_list([pa]))
                    d2.startTransmit(d2.port_id_list([pb]))
                    while any(d.getStats(d.port_id_list([p])).port_stats[0].state.is_transmit_on
                              for d, p in ((d1, pa), (d2, pb))):
                        time.sleep(0.05)
                    sent_s = time.perf_counter() - t0
                    time.sleep(1.2)  # Drone's counters refresh once a second
                    sent = [d.getStats(d.port_id_list([p])).port_stats[0].tx_pkts for d, p in ((d1, pa), (d2, pb))]
                finally:
                    _unload(d1, pa)
                    _unload(d2, pb)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        figures.update({
            "5. two Drone processes, A on one, B on the other s": procs,
            "5. overlap (A + B alone) / wall": both / procs,
            "5. both sent at once: frames A, B": f"{sent[0]:,}, {sent[1]:,} of {PACKETS:,} each in {sent_s:.1f} s",
        })
    report("Drone build parallelism", figures, out="bench-out/build_parallel_bench.json")


if __name__ == "__main__":
    main()
