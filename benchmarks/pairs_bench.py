"""Scale-out: the same 120,000 connections over one port pair and over two pairs on two Drones.

Both runs ask each stream for 5,000,000 packets/s (Drone's ceiling), in the phased mode (each
port of a pair sends alone, the two pairs side by side), forced past the plan's checks, so
each figure is what the lab can do. Printed side by side: the build time (Drone builds the
pairs' packets at the same time), the send time, each pair's offered and end-to-end
connection rates (docs/figures.md) and, over two pairs, the aggregate connection rate (all
connections / first SYN of any pair to last ACK of any pair). Then the speed-ups and the
machine's core count: every Drone's transmit thread and its builds share those cores.
"""

from __future__ import annotations

import os
import sys

import yaml
from _common import ROOT, bench_lab, report

from ostinato_tcp.lab import read_endpoints
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.run.api import run_scenario
from ostinato_tcp.scenario import scenario_from_data, with_changes

N = 120_000
ASK = {"connections.count": N, "connections.client_ips": "auto", "connections.first_client_port": 2000,
       "traffic.rate": 5_000_000, "traffic.mode": "phased", "dut.poll_interval": 0}


def run(prefix: str, name: str, pairs: bool):
    base = "lab-two-pairs.yaml" if pairs else "lab-1000.yaml"
    data = with_changes(yaml.safe_load((ROOT / "scenarios" / base).read_text()), {**ASK, "name": name})
    r = run_scenario(scenario_from_data(data, lab=prefix, lab_reader=read_endpoints), RunOptions(force=True))
    per = r.pairs or [r]
    print(f"  {name}: {'pass' if r.passed else 'FAIL'} {r.verdict.established_assured if r.verdict else 0}/{N}; "
          f"build {r.timings.get('build', 0):.2f} s, send {r.timings.get('send', 0):.2f} s"
          + (f", error {r.error}" if r.error else ""), file=sys.stderr)
    return r, per


def main() -> None:
    figures: dict = {"cores on this machine": os.cpu_count()}
    with bench_lab(pairs=2, drone_per_pair=True) as (lab, _):
        prefix = lab.config.prefix
        one, _ = run(prefix, "pairs-bench-1", pairs=False)
        two, per = run(prefix, "pairs-bench-2", pairs=True)
    for label, r, rows in (("1 pair", one, [one]), ("2 pairs", two, per)):
        figures[f"{label}: verdict"] = f"{r.outcome} {r.verdict.established_assured if r.verdict else 0}/{N}"
        figures[f"{label}: build seconds (longest pair)"] = round(r.timings.get("build", 0.0), 3)
        figures[f"{label}: send seconds (longest pair)"] = round(r.timings.get("send", 0.0), 3)
        for i, p in enumerate(rows):
            tag = f"{label}: pair {i + 1}" if len(rows) > 1 else label
            figures[f"{tag} offered connection rate"] = p.offered_connection_rate.text()
            figures[f"{tag} end-to-end connection rate"] = p.end_to_end_rate.text()
        if r.aggregate_rate is not None:
            figures[f"{label}: aggregate connection rate"] = r.aggregate_rate.text()
    e2e_one = one.end_to_end_rate.value
    agg_two = two.aggregate_rate.value if two.aggregate_rate else 0.0
    offered_two = sum(p.offered_connection_rate.value for p in per)
    figures["build speed-up (1 pair build s / 2 pairs build s)"] = round(
        one.timings.get("build", 0) / max(two.timings.get("build", 0), 1e-9), 2)
    figures["connection rate speed-up (2-pair aggregate / 1-pair end-to-end)"] = round(
        agg_two / e2e_one if e2e_one else 0.0, 2)
    figures["offered rate speed-up (sum of the 2 pairs' offered / 1 pair's offered)"] = round(
        offered_two / one.offered_connection_rate.value if one.offered_connection_rate.value else 0.0, 2)
    report("scale-out: 120,000 connections over 1 and 2 port pairs (2 Drones)", figures,
           str(ROOT / "benchmarks" / "bench-out" / "pairs_bench.json"))


if __name__ == "__main__":
    main()
