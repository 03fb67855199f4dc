"""Scale past 64K connections: 200,000 over several client IPs, and 1,000,000.

Runs 'ostinato-tcp run' as a user would (a child process, so its peak memory is its
own) against the benchmark lab with nf_conntrack_max raised to 1,200,000, at the measured
packets/s per stream, and prints Drone's build time (fast form), the send time, the
verify time, the three rates, the tool's peak memory and Drone's. Target: 1,000,000
connections end to end (plan to verdict) in 120 s. SCALE_BENCH_SIZES=200000 runs only
the first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
from _common import ROOT, bench_lab, report


def drone_rss_mb(lab) -> float:
    pid = int(Path(f"/run/ostinato-tcp/{lab.config.prefix}/drone.pid").read_text())
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_cli(args: list[str]) -> tuple[int, float, float, str, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ostinato_tcp", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out_err = {}
    readers = [threading.Thread(target=lambda k=k, f=f: out_err.__setitem__(k, f.read()))
               for k, f in (("out", proc.stdout), ("err", proc.stderr))]
    for t in readers:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    for t in readers:
        t.join()
    return (os.waitstatus_to_exitcode(status), time.perf_counter() - t0, usage.ru_maxrss / 1024,
            out_err["out"], out_err["err"])


def main() -> None:
    sizes = [int(x) for x in os.environ.get("SCALE_BENCH_SIZES", "200000,1000000").split(",")]
    figures = {}
    with bench_lab(conntrack_max=1_200_000) as (lab, eps), tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        for n in sizes:
            data = yaml.safe_load((ROOT / "scenarios" / "lab-200k.yaml").read_text())
            data["name"] = f"scale-{n}"
            data["connections"].update(count=n, first_client_port=1024 if n > 200_000 else 20000)
            data["traffic"]["rate"] = "max"  # the measured ceiling (the rate a host can keep differs)
            data["lab"] = lab.config.prefix
            data.setdefault("dut", {})["poll_interval"] = 0
            sc = tmp / f"scale-{n}.yaml"
            sc.write_text(yaml.safe_dump(data))
            rep = tmp / f"scale-{n}.json"
            peak_drone = [0.0]
            stop = threading.Event()

            def watch():
                while not stop.wait(1.0):
                    try:
                        peak_drone[0] = max(peak_drone[0], drone_rss_mb(lab))
                    except (OSError, ValueError):
                        pass

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            rc, wall, rss, out, err = run_cli(["run", "-q", "--no-history", "--report-json", str(rep), str(sc)])
            stop.set()
            watcher.join()
            if not rep.exists():
                raise SystemExit(f"run of {n} failed (exit {rc}): {err.strip()[-500:]}")
            r = json.loads(rep.read_text())
            t = r["timings"]
            figures[f"{n:,}: verdict"] = out.splitlines()[0]
            figures[f"{n:,}: exit code"] = rc
            figures[f"{n:,}: client IPs x ports per batch, batches"] = (
                f"{r['plan']['client_ips']} x {r['plan']['batch_size'] // r['plan']['client_ips'] + 1}, "
                f"{r['plan']['batches']} of {r['plan']['batch_size']:,}")
            figures[f"{n:,}: Drone build s (ms per packet)"] = f"{t['build']:.1f} ({t['build'] / (3 * n) * 1000:.4f})"
            figures[f"{n:,}: Drone build form"] = ", ".join(c["form"] for c in r["drone_build"])
            figures[f"{n:,}: send s"] = t["send"]
            figures[f"{n:,}: verify s (dump {t['dump']:.1f} s)"] = t["verify"]
            figures[f"{n:,}: total s (wall {wall:.0f} s)"] = t["total"]
            figures[f"{n:,}: tool's own s (outside build, send, dump)"] = t["overhead"]
            figures[f"{n:,}: peak RSS of ostinato-tcp MB"] = rss
            figures[f"{n:,}: peak RSS of Drone MB"] = peak_drone[0]
            pa, pb = r["ports"]["a"]["packet_rate"], r["ports"]["b"]["packet_rate"]
            figures[f"{n:,}: packet rate A / B (per second, bound)"] = (
                f"{pa['per_second']:,.0f} ±{pa['bound_pct']}% / {pb['per_second']:,.0f} ±{pb['bound_pct']}%")
            rates = r["rates"]
            off, e2e = rates["offered_connection_rate"], rates["end_to_end_connection_rate"]
            figures[f"{n:,}: offered / end-to-end connection rate (timed by {rates['timed_by']})"] = (
                f"{off['per_second']:,.0f}/s {'(estimated)' if off['estimated'] else '±' + str(off['bound_pct']) + '%'}"
                f" / {e2e['per_second']:,.0f}/s ±{e2e['bound_pct']}%")
            figures[f"{n:,}: target end to end <= 120 s"] = "met" if wall <= 120 else "NOT met"
            subprocess.run(["ip", "netns", "exec", lab.config.ns_fwd, "conntrack", "-F"], capture_output=True)
    report("scale", figures, out="bench-out/scale_bench.json")


if __name__ == "__main__":
    main()
