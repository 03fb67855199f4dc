"""A rate above Drone's ceiling never fails the DUT: 1,000,000 connections asked at 1.5x the
send ceiling measured on this host, three times refused by the plan, then three times with the
user's leave (traffic.above_ceiling: lower), run at the ceiling.

Prints the ceiling as the probe measures it (both ports flat out), each run's outcome, exit
code, the rate it ran at, each port's measured packet rate and whether it lagged, and the probe's
cost. Target: no run FAILs; each is refused (exit 2) or passes (exit 0). CEILING_BENCH_N changes
the connection count (default 1,000,000), CEILING_BENCH_RUNS the runs of each kind (default 3).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import yaml
from _common import ROOT, bench_lab, report
from scale_bench import run_cli


def main() -> None:
    n = int(os.environ.get("CEILING_BENCH_N", "1000000"))
    runs = int(os.environ.get("CEILING_BENCH_RUNS", "3"))
    figures: dict = {}
    with bench_lab(conntrack_max=max(262_144, int(n * 1.2))) as (lab, eps), tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        base = yaml.safe_load((ROOT / "scenarios" / "lab-200k.yaml").read_text())
        base["lab"] = lab.config.prefix
        base["connections"].update(count=n, first_client_port=1024 if n > 200_000 else 20000)
        base.setdefault("dut", {})["poll_interval"] = 0
        # the ceiling as a run measures it: a run at 'max' records it in its plan
        probe = dict(base, name="ceiling-probe")
        probe["connections"] = dict(base["connections"], count=20000, first_client_port=20000)
        probe["traffic"] = dict(base["traffic"], rate="max")
        path = tmp / "probe.yaml"
        path.write_text(yaml.safe_dump(probe))
        rc, wall, _, out, err = run_cli(["run", "-q", "--no-history", "--report-json", str(tmp / "p.json"), str(path)])
        ceiling = json.loads((tmp / "p.json").read_text())["plan"]["ceiling"]
        value = ceiling["packets_per_second"]
        figures["ceiling, both ports flat out (packets/s per port)"] = ", ".join(
            f"{side.upper()} {c['per_second']:,.0f} ±{c['bound_pct']}%" for side, c in ceiling["ports"].items())
        figures["ceiling probe s (the longer one)"] = ceiling["probe_seconds"]
        asked = round(1.5 * value)
        figures["asked rate (1.5 x the slower port's ceiling)"] = asked
        outcomes = []
        for kind in ("refuse", "lower"):
            for i in range(runs):
                data = dict(base, name=f"ceiling-{kind}-{i + 1}")
                data["traffic"] = dict(base["traffic"], rate=asked, above_ceiling=kind)
                path = tmp / f"{kind}-{i}.yaml"
                path.write_text(yaml.safe_dump(data))
                rep = tmp / f"{kind}-{i}.json"
                rc, wall, _, out, err = run_cli(["run", "-q", "--no-history", "--report-json", str(rep), str(path)])
                key = f"{kind} run {i + 1}"
                if rc == 2:
                    line = [x for x in err.splitlines() if x.startswith("ostinato-tcp:")][-1]
                    figures[f"{key}: exit 2 (refused) in s"] = round(wall, 1)
                    figures[f"{key}: message"] = line[:160] + ("..." if len(line) > 160 else "")
                    outcomes.append("refused")
                    continue
                r = json.loads(rep.read_text())
                outcomes.append(r["verdict"])
                pa, pb = r["ports"]["a"], r["ports"]["b"]
                figures[f"{key}: outcome, exit code"] = f"{r['verdict']}, {rc} ({out.splitlines()[0]})"
                figures[f"{key}: rate run at (asked {asked:,})"] = (
                    f"{r['plan']['rate']:,.0f}/s, {r['plan']['mode']}, {r['plan']['batches']} batch(es); "
                    f"ceiling measured {r['plan']['ceiling']['packets_per_second']:,.0f}/s")
                figures[f"{key}: packet rate A / B"] = (
                    f"{pa['packet_rate']['per_second']:,.0f}/s{' LAGGED' if pa['lagged'] else ''} / "
                    f"{pb['packet_rate']['per_second']:,.0f}/s{' LAGGED' if pb['lagged'] else ''}")
                figures[f"{key}: probe s, total s"] = f"{r['timings'].get('probe', 0):.2f}, {r['timings']['total']:.1f}"
                lab_ns = lab.config.ns_fwd
                os.system(f"ip netns exec {lab_ns} conntrack -F >/dev/null 2>&1")
        figures["runs that FAILed (target 0)"] = outcomes.count("fail")
        figures["runs refused / passed / inconclusive"] = (
            f"{outcomes.count('refused')} / {outcomes.count('pass')} / {outcomes.count('inconclusive')}")
    report("ceiling", figures, out="bench-out/ceiling_bench.json")


if __name__ == "__main__":
    main()
