"""Verifier at a million entries.

(a) A 1,000,000-entry dump file: parse + verify time and peak memory of the tool's
    process, beside awk counting ESTABLISHED+ASSURED lines of the same file.
(b) The lab DUT holding 1,000,000 entries (bulk-inserted with conntrack -R, the table
    raised to 1,200,000): 'ostinato-tcp verify' end to end (SSH, dump, transfer, judge),
    beside 'conntrack -L > /dev/null' run inside the DUT. Targets: (b) at most 2x;
    peak memory at most 250 MB.
"""

from __future__ import annotations

import ipaddress
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import ROOT, bench_lab, ns, report, scenario

from ostinato_tcp.domain.plan import make_plan

N = int(os.environ.get("VERIFY_BENCH_N", 1_000_000))
OVERRIDES = {"connections.count": N, "connections.client_ips": 16, "connections.first_client_port": 1024,
             "traffic.rate": 100_000, "traffic.batches": "off", "traffic.max_build_seconds": 1e9}


def tuples(prefix: str):
    plan = make_plan(scenario(prefix, **OVERRIDES))
    for n in range(N):
        ip, port = plan.space.client_of(n)
        yield str(ipaddress.IPv4Address(ip)), port


def scenario_file(prefix: str, tmp: Path) -> Path:
    data = yaml.safe_load((ROOT / "scenarios" / "lab-1000.yaml").read_text())
    data["name"] = "verify-bench"
    data["connections"].update(count=N, client_ips=16, first_client_port=1024)
    data["traffic"].update(rate=100_000, batches="off", max_build_seconds=1e9)
    data["lab"] = prefix
    p = tmp / "verify-bench.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def timed_child(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and peak RSS (MB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    dt = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    return dt, usage.ru_maxrss / 1024, subprocess.CompletedProcess(cmd, os.waitstatus_to_exitcode(status), out, err)


def main() -> None:
    py = sys.executable
    cli = [py, "-m", "ostinato_tcp"]
    with bench_lab(conntrack_max=1_200_000) as (lab, eps), tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        prefix = lab.config.prefix
        sc = scenario_file(prefix, tmp)
        dump = tmp / "dump.txt"
        fill = tmp / "fill.txt"
        with open(dump, "w") as d, open(fill, "w") as f:
            for ip, port in tuples(prefix):
                d.write(f"tcp      6 431999 ESTABLISHED src={ip} dst=10.2.2.100 sport={port} dport=8080 src=10.2.2.100 "
                        f"dst={ip} sport=8080 dport={port} [ASSURED] mark=0 use=1\n")
                f.write(f"-I -p tcp -s {ip} -d 10.2.2.100 --sport {port} --dport 8080 --state ESTABLISHED "
                        "-t 432000 -u SEEN_REPLY,ASSURED\n")
        size_mb = dump.stat().st_size / 1e6

        # (a) offline
        base_t, base_rss, _ = timed_child([py, "-c", "import ostinato_tcp.cli"])
        a_t, a_rss, a = timed_child(cli + ["verify", "--dump", str(dump), str(sc)])
        assert a.returncode == 0, a.stdout + a.stderr
        awk_t, _, awk = timed_child(["awk", "/ESTABLISHED/ && /ASSURED/ {n++} END {print n}", str(dump)])
        assert int(awk.stdout) == N

        # (b) live: fill the DUT, then time conntrack -L inside it and the tool end to end
        ns(lab, "conntrack", "-F", check=False)
        t0 = time.perf_counter()
        ns(lab, "conntrack", "-R", str(fill))
        fill_t = time.perf_counter() - t0
        count = int(ns(lab, "cat", "/proc/sys/net/netfilter/nf_conntrack_count").stdout)
        local = []
        for _ in range(3):
            t0 = time.perf_counter()
            ns(lab, "sh", "-c", "conntrack -L > /dev/null 2>&1")
            local.append(time.perf_counter() - t0)
        e2e, e2e_rss, outs = [], [], []
        for compress in ("off", "on"):
            data = yaml.safe_load(sc.read_text())
            data.setdefault("dut", {})["compress"] = compress
            scx = tmp / f"sc-{compress}.yaml"
            scx.write_text(yaml.safe_dump(data))
            runs = []
            for _ in range(2):
                t, rss, res = timed_child(cli + ["verify", str(scx)])
                assert res.returncode == 0, res.stdout + res.stderr
                runs.append((t, rss))
            e2e.append(min(r[0] for r in runs))
            e2e_rss.append(max(r[1] for r in runs))
            outs.append(res.stdout.splitlines()[0])
        ns(lab, "conntrack", "-F", check=False)
    local_t = statistics.median(local)
    report(f"verify, {N:,} entries", {
        "dump file MB": size_mb,
        "(a) parse+verify s (ostinato-tcp verify --dump)": a_t,
        "(a) peak RSS MB of that process": a_rss,
        "(a) peak RSS MB of the bare CLI import": base_rss,
        "(a) awk count s": awk_t,
        "(a) ratio tool/awk": a_t / awk_t,
        "(a) entries per second": N / a_t,
        "(b) DUT entries": count,
        "(b) conntrack -R fill s": fill_t,
        "(b) conntrack -L > /dev/null in the DUT s (median of 3)": local_t,
        "(b) ostinato-tcp verify end to end s, uncompressed (best of 2)": e2e[0],
        "(b) ostinato-tcp verify end to end s, gzip on the DUT (best of 2)": e2e[1],
        "(b) ratio end-to-end/conntrack -L, uncompressed (target <= 2)": e2e[0] / local_t,
        "(b) ratio end-to-end/conntrack -L, gzip (target <= 2)": e2e[1] / local_t,
        "(b) peak RSS MB, uncompressed / gzip (target <= 250)": f"{e2e_rss[0]:.0f} / {e2e_rss[1]:.0f}",
        "(b) verdict": outs[0],
    }, out="bench-out/verify_bench.json")


if __name__ == "__main__":
    main()
