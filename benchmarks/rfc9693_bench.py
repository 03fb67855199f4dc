"""RFC 9693's maximum connection establishment rate by its binary search, 10 trials, on the
benchmark lab, as a user types it ('ostinato-tcp benchmark', every step validated by the
traffic proof): first the lab's DUT as it is, then the same DUT policing new connections (an
nftables limit on SYNs in its forward chain, removed afterwards), so that the search has an
edge to find. Printed from the report: per trial the figure, its outcome and steps, the
median and spread over the trials, the seconds a step and the whole benchmark took.

    python benchmarks/rfc9693_bench.py [CONNECTIONS_PER_STEP] [POLICED_PER_SECOND]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from _common import ROOT, bench_lab, ns, report

TRIALS = 10
COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 40_000
POLICED = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000


def benchmark(prefix: str, tmp: Path, name: str, *extra: str) -> dict:
    data = yaml.safe_load((ROOT / "scenarios" / "lab-1000.yaml").read_text())
    data.update(name=name, lab=prefix)
    data["connections"].update(count=COUNT, client_ips="auto", first_client_port=1024)
    path, rep = tmp / f"{name}.yaml", tmp / f"{name}.json"
    path.write_text(yaml.safe_dump(data))
    p = subprocess.run([sys.executable, "-m", "ostinato_tcp", "benchmark", str(path), "--trials", str(TRIALS), "-q",
                        "--report-json", str(rep), *extra], capture_output=True, text=True)
    if not rep.exists():
        raise SystemExit(f"benchmark {name} wrote no report (exit {p.returncode}): {p.stderr[-600:]}")
    return json.loads(rep.read_text())


def figures_of(label: str, d: dict, out: dict) -> None:
    s = d["maximum_connection_establishment_rate"]
    steps = [st for t in d["trials"] for st in t["steps"]]
    outcomes = sorted({t["outcome"] for t in d["trials"]})
    out[f"{label}: verdict"] = d["verdict"].upper() + (f" ({d['error']})" if d["error"] else "")
    out[f"{label}: median / min / max, connections/s"] = (
        f"{s['median']:,.0f} / {s['minimum']:,.0f} / {s['maximum']:,.0f}" if s["median"] else "no figure")
    out[f"{label}: spread (max - min) / median"] = (
        f"{(s['maximum'] - s['minimum']) / s['median'] * 100:.2f}%" if s["median"] else "n/a")
    out[f"{label}: trial outcomes"] = ", ".join(outcomes)
    out[f"{label}: per trial"] = "; ".join(f"{t['figure']:,.0f}" if t["figure"] else "-" for t in d["trials"])
    out[f"{label}: steps per trial"] = "/".join(str(len(t["steps"])) for t in d["trials"])
    out[f"{label}: steps run again (generator)"] = sum(len(st["retried"]) for st in steps)
    out[f"{label}: seconds a step (mean)"] = f"{sum(st['seconds'] for st in steps) / max(1, len(steps)):.1f}"
    out[f"{label}: benchmark time s"] = f"{d['seconds']:.1f}"


def main() -> None:
    figures: dict = {}
    with bench_lab() as (lab, _eps), tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        d = benchmark(lab.config.prefix, tmp, "as-is")
        ceiling = d["ceiling"] or {}
        figures["Drone's send ceiling (slower port), packets/s"] = f"{ceiling.get('packets_per_second', 0):,.0f}"
        figures_of(f"the lab's DUT, {COUNT:,} a step", d, figures)
        rules = ("table inet otcp_bench_police {\n chain police {\n  type filter hook forward priority -10;\n"
                 f"  tcp flags & (syn | ack) == syn limit rate over {POLICED}/second burst {POLICED // 20} packets drop\n"
                 " }\n}\n")
        ns(lab, "nft", "-f", "-", input=rules)
        try:
            d = benchmark(lab.config.prefix, tmp, "policed", "--floor", str(POLICED // 4), "--resolution", "0.02")
        finally:
            ns(lab, "nft", "delete", "table", "inet", "otcp_bench_police", check=False)
        figures_of(f"policed at {POLICED:,}/s, {COUNT:,} a step", d, figures)
        s = d["maximum_connection_establishment_rate"]
        if s["median"]:
            figures["policed: median / policed rate"] = f"{s['median'] / POLICED:.3f}"
    report(f"RFC 9693 establishment-rate search, {TRIALS} trials", figures, out="bench-out/rfc9693_bench.json")


if __name__ == "__main__":
    main()
