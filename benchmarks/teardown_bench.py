"""Tear-down of 60,000 connections by RST and by FIN, beside the establishment of the same run.

Each run is 'ostinato-tcp run' as a user types it: 60,000 connections at 20,000 and 60,000
packets/s per stream, traffic.teardown rst or fin. Printed per run, all from its report:
the offered connection rate (SYNs per second of the SYN phase), the offered tear-down rate
(RSTs or FINs per second of that leg), the DUT's retire rate (the test's entries leaving
ESTABLISHED per second, from polled counts of its ESTABLISHED entries, with the polls'
bound), the ratio retire / offered tear-down, and each connection's state after the close.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from _common import ROOT, bench_lab, report

N = 60_000


def one(prefix: str, tmp: Path, mode: str, rate: int) -> dict:
    data = yaml.safe_load((ROOT / "scenarios" / "lab-1000.yaml").read_text())
    data.update(name=f"td-{mode}-{rate}", lab=prefix)
    data["connections"].update(count=N, first_client_port=1024)
    data["traffic"] = {"rate": rate, "teardown": mode}
    path, rep = tmp / f"{mode}-{rate}.yaml", tmp / f"{mode}-{rate}.json"
    path.write_text(yaml.safe_dump(data))
    p = subprocess.run([sys.executable, "-m", "ostinato_tcp", "run", "-q", "--no-history", "--report-json",
                        str(rep), str(path)], capture_output=True, text=True)
    if not rep.exists():
        raise SystemExit(f"run {mode} {rate} wrote no report (exit {p.returncode}): {p.stderr.strip()[-400:]}")
    return json.loads(rep.read_text())


def _rate(d: dict | None) -> str:
    if not d:
        return "not measured"
    pct = "±?" if d["bound_pct"] is None else f"±{d['bound_pct']:.1f}%"
    return f"{d['per_second']:,.0f}/s {pct} over {d['seconds']:.3f} s"


def main() -> None:
    figures = {}
    with bench_lab() as (lab, eps), tempfile.TemporaryDirectory() as tmpd:
        for mode in ("rst", "fin"):
            for rate in (20_000, 60_000):
                r = one(lab.config.prefix, Path(tmpd), mode, rate)
                td, key = r["teardown"] or {}, f"{mode} at {rate:,}/s"
                figures[f"{key}: verdict"] = (f"{r['verdict'].upper()} {r['established_assured']:,}/{N:,}; "
                                              f"closed {td.get('closed', 0):,}/{N:,} ({td.get('states')}, "
                                              f"gone {td.get('gone')})")
                figures[f"{key}: offered connection rate (SYNs)"] = _rate(r["rates"]["offered_connection_rate"])
                figures[f"{key}: offered tear-down rate ({mode.upper()}s)"] = _rate(td.get("offered_teardown_rate"))
                figures[f"{key}: DUT retire rate (entries leaving ESTABLISHED)"] = _rate(td.get("dut_retire_rate"))
                off, ret = td.get("offered_teardown_rate"), td.get("dut_retire_rate")
                if off and ret and off["per_second"]:
                    figures[f"{key}: retire / offered tear-down"] = f"{ret['per_second'] / off['per_second']:.3f}"
                figures[f"{key}: DUT delete rate after the close (conntrack -D)"] = _rate(
                    r["entries_after_the_run"].get("dut_delete_rate"))
                figures[f"{key}: ESTABLISHED-count polls"] = str(td.get("established_polls"))
                figures[f"{key}: tear-down time s (build+send+polls+dump)"] = f"{r['timings'].get('teardown', 0):.2f}"
                figures[f"{key}: DUT invalid counter during the tear-down"] = str(
                    (td.get("counter_deltas") or {}).get("invalid", 0))
                subprocess.run(["ip", "netns", "exec", lab.config.ns_fwd, "conntrack", "-F"], capture_output=True)
    report("Tear-down of 60,000 connections: RST and FIN, offered and retire rates", figures,
           out="bench-out/teardown_bench.json")


if __name__ == "__main__":
    main()
