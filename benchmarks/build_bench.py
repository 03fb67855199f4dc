"""Drone's build, before and after the fast form, on the same Drone in one run.

1. One 30,000-packet SYN stream on port A (the source port a variable field, one emulated
   device), the build RPC timed, in each form (median of 3 builds):
   resolve (Drone looks up the device and the neighbour per frame, computes both checksums);
   MACs fixed; + IPv4 checksum given; + TCP checksum given (the right values, a variable
   field stepping it, split at the ones' complement wrap): the fast form.
2. 60,000 connections end to end (plan to verdict), through the command line.
Targets (this 2-core machine): fast build <= 0.03 ms per packet.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import yaml
from _common import ROOT, bench_lab, report, scenario

from ostinato_tcp.ground.checksum import ipv4_checksum
from ostinato_tcp.drone import open_drone
from ostinato_tcp.drone._encode import device_group_config, stream_config
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.streams import Wire, client_devices, client_program

PACKETS = 30_000


def _resolve_gateway(d, port: int, gateway: int) -> int:
    for _ in range(50):
        d.resolveDeviceNeighbors(d.port_id_list([port]))
        for dn in d.getDeviceNeighbors(d.port_id(port)).Extensions[d.emul.device_neighbor]:
            for e in dn.arp:
                if e.ip4 == gateway and e.mac:
                    return e.mac
        time.sleep(0.1)
    raise SystemExit("the lab's gateway did not answer ARP")


def build_costs(eps, prefix: str) -> dict:
    sc = scenario(prefix, **{"connections.count": PACKETS, "connections.first_client_port": 20000,
                             "traffic.rate": 100_000})
    plan = make_plan(sc)
    runs = plan.space.stream_runs(plan.batches[0])
    syn = client_program(sc, runs)[0]  # the SYN stream, resolve form
    out = {}
    with open_drone(eps.drone_a["host"], eps.drone_a["port"], timeout=300) as d:
        port = d.find_port("porta")
        d.addDeviceGroup(d.device_group_id_list(port, [901]))
        d.modifyDeviceGroup(device_group_config(d.pb, d.emul, port, 901, client_devices(sc, plan.space.first_ip, 1)))
        try:
            gw = _resolve_gateway(d, port, int(sc.ports.a.device.gateway))
            dev = {x.ip4: x.mac for x in d.getDeviceList(d.port_id(port)).Extensions[d.emul.device]}
            fixed = replace(syn, src_mac=dev[syn.client_ip], dst_mac=gw)
            ip_cfg = stream_config(d.pb, port, [911], [fixed])
            ip4 = ip_cfg.stream[0].protocol[2].Extensions[d.pb.ip4]
            ip4.is_override_cksum, ip4.cksum = True, ipv4_checksum(ip4.src_ip, ip4.dst_ip)
            fast = Wire(gw, dev).fast(syn)
            forms = [("resolve (MACs resolved, both checksums by Drone)", stream_config(d.pb, port, [911], [syn])),
                     ("MACs fixed", stream_config(d.pb, port, [911], [fixed])),
                     ("+ IPv4 header checksum given", ip_cfg),
                     ("+ TCP checksum given: the fast form", stream_config(d.pb, port, range(911, 911 + len(fast)),
                                                                           fast))]
            per_packet = {}
            for label, cfg in forms:
                ids = [s.stream_id.id for s in cfg.stream]
                d.addStream(d.stream_id_list(port, ids))
                d.modifyStream(cfg)
                times = []
                for _ in range(3):
                    d.modifyStream(cfg)  # a changed stream is built again
                    bc = d.pb.BuildConfig()
                    bc.port_id.id = port
                    t0 = time.perf_counter()
                    d.build(bc, timeout=300)
                    times.append(time.perf_counter() - t0)
                d.deleteStream(d.stream_id_list(port, ids))
                per_packet[label] = statistics.median(times) / PACKETS
                out[f"build ms per packet: {label}"] = per_packet[label] * 1000
            base = per_packet[forms[0][0]]
            for label, _ in forms[1:]:
                out[f"speed-up against resolve: {label}"] = base / per_packet[label]
            out["target: fast form <= 0.030 ms per packet"] = (
                "met" if per_packet[forms[-1][0]] <= 0.00003 else "NOT met")
        finally:
            d.deleteDeviceGroup(d.device_group_id_list(port, [901]))
    return out


def end_to_end(prefix: str, n: int, rate: float, tmp: Path, **extra) -> dict:
    data = yaml.safe_load((ROOT / "scenarios" / "lab-1000.yaml").read_text())
    data.update(name=f"build-{n}", lab=prefix)
    data["connections"].update(count=n, first_client_port=2000, **extra)
    data["traffic"]["rate"] = rate
    data["dut"] = {"poll_interval": 0}
    path, rep = tmp / f"b{n}.yaml", tmp / f"b{n}.json"
    path.write_text(yaml.safe_dump(data))
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "ostinato_tcp", "run", "-q", "--no-history", "--report-json", str(rep),
                        str(path)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r = json.loads(rep.read_text())
    t = r["timings"]
    packets = 3 * n
    return {f"{n:,}: verdict": p.stdout.splitlines()[0] if p.stdout else p.stderr.strip(),
            f"{n:,}: end to end s (wall, plan to verdict)": wall,
            f"{n:,}: build s / ms per packet": f"{t['build']:.2f} / {t['build'] / packets * 1000:.4f}",
            f"{n:,}: send s": t["send"],
            f"{n:,}: Drone build form, probe ms per packet": ", ".join(
                f"{c['form']} {c['build_seconds_per_packet'] * 1000:.4f}" for c in r["drone_build"])}


def main() -> None:
    figures = {}
    with bench_lab() as (lab, eps), tempfile.TemporaryDirectory() as tmpd:
        figures.update(build_costs(eps, lab.config.prefix))
        figures.update(end_to_end(lab.config.prefix, 60_000, 150_000, Path(tmpd)))
    report("Drone build", figures, out="bench-out/build_bench.json")


if __name__ == "__main__":
    main()
