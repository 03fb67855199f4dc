"""The conformance catalogue at 100,000 connections per case (1,000 for comparison) on the
benchmark lab, as a user types it: 'ostinato-tcp conformance' with --count. Printed from its
report: the verdict, each case's outcome N/N, what the DUT forwarded of each step (both ports
capture where a case's frames fit) and the time it took (its run, plan to clean-up),
the whole catalogue's time, and per case the time per 1,000 connections at both sizes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from _common import ROOT, bench_lab, report

from ostinato_tcp.report.conformance import forwarded_text

SIZES = (1_000, 100_000)
RATE = 50_000  # packets per second of each step's stream


def catalogue(prefix: str, tmp: Path, count: int) -> dict:
    data = yaml.safe_load((ROOT / "scenarios" / "lab-conformance.yaml").read_text())
    data.update(name=f"conformance-{count}", lab=prefix)
    data["connections"].update(first_client_port=1024, client_ips="auto")
    data["traffic"] = {"rate": RATE}
    path, rep = tmp / f"c{count}.yaml", tmp / f"c{count}.json"
    path.write_text(yaml.safe_dump(data))
    p = subprocess.run([sys.executable, "-m", "ostinato_tcp", "conformance", "-q", "--count", str(count),
                        "--report-json", str(rep), str(path)], capture_output=True, text=True)
    if not rep.exists():
        raise SystemExit(f"conformance --count {count} wrote no report (exit {p.returncode}): {p.stderr[-400:]}")
    return json.loads(rep.read_text())


def main() -> None:
    figures, runs = {}, {}
    with bench_lab() as (lab, _eps), tempfile.TemporaryDirectory() as tmpd:
        for n in SIZES:
            d = runs[n] = catalogue(lab.config.prefix, Path(tmpd), n)
            cases = d["cases"]
            figures[f"{n:,} per case: verdict"] = (f"{d['verdict'].upper()}: " + ", ".join(
                f"{w} {sum(1 for c in cases if c['verdict'] == w)}" for w in ("pass", "explained", "fail"))
                + (f"; error: {d['error']}" if d["error"] else ""))
            figures[f"{n:,} per case: catalogue time s ({len(cases)} cases)"] = f"{d['seconds']:.1f}"
    small = {c["case"]: c for c in runs[SIZES[0]]["cases"]}
    for c in runs[SIZES[1]]["cases"]:
        s = small.get(c["case"])
        figures[f"{c['case']}: {SIZES[1]:,} per case"] = (
            f"{c['as_expected']:,}/{c['connections']:,} {c['expected']}, invalid +{c['invalid_delta']}, "
            f"forwarded per step {forwarded_text(c)}, {c['seconds']:.1f} s"
            + (f" ({s['seconds']:.1f} s at {SIZES[0]:,})" if s else ""))
    t0, t1 = runs[SIZES[0]]["seconds"], runs[SIZES[1]]["seconds"]
    figures["catalogue time ratio 100,000 / 1,000 per case"] = f"{t1 / t0:.2f}" if t0 else "n/a"
    report("Conformance catalogue at 1,000 and 100,000 connections per case", figures,
           out="bench-out/conformance_bench.json")


if __name__ == "__main__":
    main()
