"""1,000,000 connections at the rate the lab sustains, under the automatic plan, with the DUT's
hash table left at the host's default size and raised: three runs each.

The DUT's nf_conntrack_max is raised to 1,200,000 (as an administrator who only raises the
maximum would); nf_conntrack_buckets is left as it is, then set to 1,048,576. Each run is
'ostinato-tcp run' as a user types it (16 client IPs, 150,000 packets/s per stream, every
traffic setting 'auto'). Printed per run: the verdict, the plan's mode and why, the ordering
margin it kept and why, the hash load it expected, the time it cost; then per table size
how many runs were 100% and the time they took.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import ROOT, bench_lab, report

RUNS = 3
N, RATE = 1_000_000, 150_000


def one(prefix: str, tmp: Path, tag: str) -> dict:
    data = yaml.safe_load((ROOT / "scenarios" / "lab-200k.yaml").read_text())
    data["name"] = f"edge-{tag}"
    data["lab"] = prefix
    data["connections"].update(count=N, first_client_port=1024, client_ips=16)
    data["traffic"] = {"rate": RATE}
    data.setdefault("dut", {})["poll_interval"] = 0
    path, rep = tmp / f"{tag}.yaml", tmp / f"{tag}.json"
    path.write_text(yaml.safe_dump(data))
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "ostinato_tcp", "run", "-q", "--no-history", "--report-json",
                        str(rep), str(path)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if not rep.exists():
        raise SystemExit(f"run {tag} wrote no report (exit {p.returncode}): {p.stderr.strip()[-400:]}")
    r = json.loads(rep.read_text())
    r["wall"], r["exit"] = wall, p.returncode
    return r


def main() -> None:
    figures = {}
    host_default = int(Path("/proc/sys/net/netfilter/nf_conntrack_buckets").read_text())
    for label, buckets in ((f"default {host_default:,} buckets", None), ("1,048,576 buckets", 1_048_576)):
        passed, walls = 0, []
        with bench_lab(conntrack_max=1_200_000, conntrack_buckets=buckets) as (lab, eps), \
                tempfile.TemporaryDirectory() as tmpd:
            for i in range(RUNS):
                r = one(lab.config.prefix, Path(tmpd), f"{'d' if buckets is None else 'r'}{i}")
                plan, t = r["plan"], r["timings"]
                ok = r["verdict"] == "pass"
                passed += ok
                walls.append(r["wall"])
                key = f"{label}, run {i + 1}"
                figures[f"{key}: verdict"] = f"{r['verdict'].upper()} {r['established_assured']:,}/{N:,}"
                figures[f"{key}: plan"] = (f"{plan['mode']}, {plan['batches']} batch(es) of {plan['batch_size']:,}"
                                           + (f", delay {plan['delay']:.3f} s" if plan["delay"] else ""))
                figures[f"{key}: why that mode"] = plan["mode_why"] or "(given)"
                figures[f"{key}: ordering margin kept (why)"] = f"{plan['min_margin']:.3f} s ({plan['margin_why']})"
                figures[f"{key}: hash load at the end (entries per bucket, planned)"] = (
                    f"{plan['dut_table']['hash_load_at_end']:.2f}" if plan["dut_table"]["hash_load_at_end"] else "n/a")
                figures[f"{key}: build / send / verify / total s (wall)"] = (
                    f"{t['build']:.1f} / {t['send']:.1f} / {t['verify']:.1f} / {t['total']:.1f} ({r['wall']:.0f})")
                figures[f"{key}: DUT counters (invalid, insert_failed, drop, early_drop)"] = ", ".join(
                    str(r["dut"]["counter_deltas"].get(k, 0)) for k in ("invalid", "insert_failed", "drop",
                                                                        "early_drop"))
                if not ok:
                    figures[f"{key}: diagnosis"] = " | ".join(r["diagnosis"])[:400]
                subprocess.run(["ip", "netns", "exec", lab.config.ns_fwd, "conntrack", "-F"], capture_output=True)
        figures[f"{label}: runs 100% ESTABLISHED+ASSURED"] = f"{passed} of {RUNS}"
        figures[f"{label}: wall s per run, mean (min-max)"] = (
            f"{sum(walls) / len(walls):.0f} ({min(walls):.0f}-{max(walls):.0f})")
    report("1,000,000 connections, automatic plan, hash table default and raised", figures,
           out="bench-out/edge_bench.json")


if __name__ == "__main__":
    main()
