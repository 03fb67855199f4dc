"""What the traffic proof costs at scale: the same run with and without ``expect.proof: [table,
traffic]`` at 60,000 and 200,000 connections (``carry_bench.py 60000 1000000`` for other sizes;
above 450,000 both runs of a size go in batches of 250,000, as the proof's capture limit asks).

Each run is 'ostinato-tcp run' as a user types it (rate 20,000/s per stream, the lab's DUT).
Printed per size, all from the runs' reports: both verdicts and the connections carried both
ways; the traffic proof's phase (timings.carry) and its parts (the data programs' build, the
send of both ports, reading both captures and judging every connection); the captures' size;
the whole run's time with and without the proof and their ratio; the tool's peak memory with
and without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from _common import ROOT, bench_lab, report

from ostinato_tcp.domain.plan_checks import CARRY_CAPTURE_FRAMES
from ostinato_tcp.lab._config import table_settings

SIZES = (60_000, 200_000)
# the traffic proof's capture holds two frames per connection of a batch: above half the limit, both
# runs of a size take batches of this many (the same plan for both, so they compare)
CARRY_BATCH = 250_000
RATE = 20_000


def one(prefix: str, tmp: Path, n: int, proof: bool) -> dict:
    data = yaml.safe_load((ROOT / "scenarios" / "lab-1000.yaml").read_text())
    name = f"carry-{n}-{'traffic' if proof else 'table'}"
    data.update(name=name, lab=prefix)
    data["connections"].update(count=n, first_client_port=1024, client_ips="auto")
    data["traffic"] = {"rate": RATE}
    if 2 * n > CARRY_CAPTURE_FRAMES:
        data["traffic"]["batches"] = CARRY_BATCH
    data["expect"] = {"proof": ["table", "traffic"] if proof else ["table"]}
    path, rep = tmp / f"{name}.yaml", tmp / f"{name}.json"
    path.write_text(yaml.safe_dump(data))
    p = subprocess.run([sys.executable, "-m", "ostinato_tcp", "run", "-q", "--no-history", "--report-json",
                        str(rep), str(path)], capture_output=True, text=True)
    if not rep.exists():
        raise SystemExit(f"run {name} wrote no report (exit {p.returncode}): {p.stderr.strip()[-400:]}")
    return json.loads(rep.read_text())


def main() -> None:
    sizes = tuple(int(a) for a in sys.argv[1:]) or SIZES  # carry_bench.py [COUNT ...]
    figures = {}
    with bench_lab(**table_settings(max(sizes))) as (lab, eps), tempfile.TemporaryDirectory() as tmpd:
        for n in sizes:
            plain = one(lab.config.prefix, Path(tmpd), n, proof=False)
            full = one(lab.config.prefix, Path(tmpd), n, proof=True)
            tp = full["traffic_proof"] or {}
            key = f"{n:,} connections"
            for run in (plain, full):
                if run.get("error"):
                    figures[f"{key}: error of {run['scenario_name']}"] = run["error"]
            figures[f"{key}: verdicts (table only; table and traffic)"] = (
                f"{plain['verdict'].upper()} {plain['established_assured']:,}; {full['verdict'].upper()} "
                f"{full['established_assured']:,}, carried both ways {tp.get('carried_both_ways', 0):,}")
            figures[f"{key}: traffic proof phase s (timings.carry)"] = f"{full['timings'].get('carry', 0):.2f}"
            figures[f"{key}: its build / send / read s"] = (f"{tp.get('build_seconds') or 0:.2f} / "
                                                            f"{tp.get('send_seconds') or 0:.2f} / "
                                                            f"{tp.get('read_seconds') or 0:.2f}")
            cap = sum((tp.get("capture_bytes") or {}).values())
            figures[f"{key}: captures MB (both ports)"] = f"{cap / 1e6:.1f}"
            figures[f"{key}: read per connection us"] = f"{(tp.get('read_seconds') or 0) / n * 1e6:.1f}"
            t0, t1 = plain["timings"]["total"], full["timings"]["total"]
            figures[f"{key}: run total s (table only; with traffic)"] = f"{t0:.1f}; {t1:.1f}"
            figures[f"{key}: total with traffic / table only"] = f"{t1 / t0:.2f}"
            figures[f"{key}: tool peak memory MB (table only; with traffic)"] = (
                f"{plain['tool']['peak_memory_mb']}; {full['tool']['peak_memory_mb']}")
            figures[f"{key}: tool's own s (table only; with traffic)"] = (
                f"{plain['timings']['overhead']:.2f}; {full['timings']['overhead']:.2f}")
    report("The traffic proof at scale: cost against the table proof alone", figures,
           out="bench-out/carry_bench.json")


if __name__ == "__main__":
    main()
