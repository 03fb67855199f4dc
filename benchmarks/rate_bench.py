"""Drone's ceiling per port, measured the way runs measure rates, at three sizes.

Runs asking 5,000,000 packets/s (far more than Drone sends on the lab's veth links), in the
phased procedure so that each port sends alone, at N = 20,000, 60,000 and 200,000
connections, each size twice. Each port's packet rate comes with its bound (Drone's capture
of the port for batches up to 300,000 connections). Printed: every figure with its bound, and
per port the spread between runs of one size, between sizes, and the widest bound: when the
spread is far wider than the bounds, the figures are precise and it is Drone's ceiling itself
that moves from run to run (on a shared 2-core VM it does, by a few percent).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from _common import ROOT, bench_lab, report

SIZES = (20_000, 60_000, 200_000)
REPEATS = 2  # each size twice: the spread between runs of one size beside the spread between sizes


def run(prefix: str, n: int, tmp: Path) -> dict:
    data = yaml.safe_load((ROOT / "scenarios" / "lab-1000.yaml").read_text())
    data.update(name=f"ceiling-{n}", lab=prefix)
    data["connections"].update(count=n, first_client_port=1024, client_ips="auto")
    data["traffic"].update(rate=5_000_000, mode="phased")
    data["dut"] = {"poll_interval": 0}
    path, rep = tmp / f"c{n}.yaml", tmp / f"c{n}.json"
    path.write_text(yaml.safe_dump(data))
    subprocess.run([sys.executable, "-m", "ostinato_tcp", "run", "-q", "--ignore-plan-checks", "--no-history", "--report-json",
                    str(rep), str(path)], capture_output=True, text=True)
    return json.loads(rep.read_text())


def main() -> None:
    figures, rates = {}, {"a": {}, "b": {}}
    with bench_lab(conntrack_max=600_000) as (lab, eps), tempfile.TemporaryDirectory() as tmpd:
        for n in SIZES:
            for rep in range(REPEATS):
                r = run(lab.config.prefix, n, Path(tmpd))
                key = f"N={n:,} #{rep + 1}"
                for side in ("a", "b"):
                    pr = r["ports"][side]["packet_rate"]
                    rates[side][key] = (pr["per_second"], pr["bound_pct"] or 0.0)
                    figures[f"port {side.upper()} ceiling, {key} (packets/s, bound, timed by)"] = (
                        f"{pr['per_second']:,.0f} ±{pr['bound_pct']}% ({r['rates']['timed_by']})")
    for side in ("a", "b"):
        worst_same, worst_across = 0.0, 0.0
        for (k1, (v1, _)), (k2, (v2, _)) in itertools.combinations(rates[side].items(), 2):
            diff = abs(v1 - v2) / ((v1 + v2) / 2) * 100
            if k1.split(" #")[0] == k2.split(" #")[0]:
                worst_same = max(worst_same, diff)
            else:
                worst_across = max(worst_across, diff)
        values = [v for v, _ in rates[side].values()]
        widest = max(b for _, b in rates[side].values())
        figures[f"port {side.upper()}: ceiling min / mean / max (packets/s)"] = (
            f"{min(values):,.0f} / {sum(values) / len(values):,.0f} / {max(values):,.0f}")
        figures[f"port {side.upper()}: spread between runs of one size / between sizes / widest bound (%)"] = (
            f"{worst_same:.2f} / {worst_across:.2f} / {widest:.3f}")
        figures[f"port {side.upper()}: spread between runs of one size / widest bound (ratio)"] = (
            f"{worst_same / widest:,.0f}x" if widest else "n/a")
    report("Drone's ceiling per port", figures, out="bench-out/rate_bench.json")


if __name__ == "__main__":
    main()
