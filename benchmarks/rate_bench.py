"""Drone's ceiling per port, measured the way runs measure rates, at three sizes.

Runs asking 5,000,000 packets/s (far more than Drone sends on the lab's veth links), in the
phased procedure so that each port sends alone, at N = 20,000, 60,000 and 200,000
connections. Each port's packet rate comes with its bound (Drone's capture of the port for
batches up to 300,000 connections); the three figures of a port must agree within their
bounds, since they measure one ceiling. Printed: the figures, their bounds, and whether each
pair agrees.
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
        for (k1, (v1, b1)), (k2, (v2, b2)) in itertools.combinations(rates[side].items(), 2):
            allowed = v1 * b1 / 100 + v2 * b2 / 100
            diff = abs(v1 - v2) / ((v1 + v2) / 2) * 100
            same = k1.split(" #")[0] == k2.split(" #")[0]
            worst_same, worst_across = (max(worst_same, diff), worst_across) if same else (worst_same,
                                                                                        max(worst_across, diff))
            figures[f"port {side.upper()}: {k1} vs {k2}: difference / allowed by the bounds"] = (
                f"{abs(v1 - v2):,.0f} / {allowed:,.0f} packets/s: {'agree' if abs(v1 - v2) <= allowed else 'DIFFER'}")
        figures[f"port {side.upper()}: largest difference between runs of one size / of different sizes (%)"] = (
            f"{worst_same:.2f} / {worst_across:.2f}")
    report("Drone's ceiling per port", figures, out="bench-out/rate_bench.json")


if __name__ == "__main__":
    main()
