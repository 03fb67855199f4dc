"""The main job's speed in the lab, in the tool's three rates (docs/figures.md).

1. Drone's ceiling through the DUT: a run asking 5,000,000 packets/s, phased (each port
   sends alone): each port's packet rate.
2. The highest rate at which 60,000 connections are still 100% ESTABLISHED+ASSURED with
   no port lagging (pipelined; the asked rate raised, then bisected): the definition of the
   maximum connection establishment rate in docs/figures.md. Reported: the highest measured
   offered connection rate among those runs (SYNs / SYN phase time) and its end-to-end rate,
   beside the ceiling. In the pipelined scheme port A sends SYNs and ACKs and port B SYN-ACKs at the
   same time, so the offered rate can reach about the ceiling only while both ports keep up.
3. The tool's own time (everything but Drone's build, the sending and the DUT dump) for
   1,000, 10,000 and 60,000 connections. Target: at most 10% on top of them.
"""

from __future__ import annotations

import math
import sys

from _common import bench_lab, report, scenario

from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.run.api import run_scenario

N = 60_000


def trial(prefix: str, n: int, rate: float, force: bool = False, **extra) -> dict:
    sc = scenario(prefix, **{"name": f"bench-{n}-{int(rate)}", "connections.count": n,
                             "connections.first_client_port": 2000, "traffic.rate": rate,
                             "traffic.mode": "pipelined", "traffic.min_margin": 0.02, "dut.poll_interval": 0, **extra})
    r = run_scenario(sc, RunOptions(force=force))
    return {"passed": r.passed, "established": r.verdict.established_assured if r.verdict else 0,
            "timings": dict(r.timings), "lagged": [s for s, p in r.ports.items() if p.lagged],
            "offered": r.offered_connection_rate, "e2e": r.end_to_end_rate,
            "a": r.ports["a"].packet_rate, "b": r.ports["b"].packet_rate}


def main() -> None:
    figures = {}
    with bench_lab() as (lab, eps):
        prefix = lab.config.prefix
        ceiling = trial(prefix, N, 5_000_000.0, force=True, **{"traffic.mode": "phased"})
        figures["ceiling through the DUT, port A / port B packet rate (phased, asked 5,000,000/s)"] = (
            f"{ceiling['a'].text()} / {ceiling['b'].text()}")

        tried = []

        def attempt(rate: float) -> dict:
            res = trial(prefix, N, rate, force=True)
            tried.append((rate, res))
            res["ok"] = res["passed"] and not res["lagged"]  # a lagging port's pass proves no rate
            print(f"  {N} connections asked at {rate:,.0f}/s: {'pass' if res['passed'] else 'FAIL'} "
                  f"({res['established']}); offered {res['offered'].text()}, end-to-end {res['e2e'].text()}, "
                  f"A {res['a'].value:,.0f}/s B {res['b'].value:,.0f}/s{' LAGGED' if res['lagged'] else ''}",
                  file=sys.stderr)
            return res

        best, fail, rate = None, None, 20_000.0
        while rate < 5_000_000:
            res = attempt(rate)
            if not res["ok"]:
                fail = rate
                break
            best = rate
            rate *= 1.5
        while fail and best and fail / best > 1.05:
            mid = math.sqrt(best * fail)
            if attempt(mid)["ok"]:
                best = mid
            else:
                fail = mid
        passing = [res for _, res in tried if res["ok"]]
        top = max(passing, key=lambda res: res["offered"].value)
        figures["highest asked rate passing with no port lagging, 60,000 connections (packets/s per stream)"] = (
            best or 0.0)
        figures["lowest asked rate that failed or lagged (0 = none)"] = fail or 0.0
        figures["maximum connection establishment rate (highest measured offered rate, passing, no lag)"] = (
            top["offered"].text())
        figures["its end-to-end connection rate (first SYN to last ACK)"] = top["e2e"].text()
        figures["ratio offered / port A ceiling"] = top["offered"].value / ceiling["a"].value
        figures["trials (asked: pass/fail, offered/s, lagged)"] = ", ".join(
            f"{r:,.0f}:{'P' if res['passed'] else 'F'}:{res['offered'].value / 1000:.0f}k"
            f"{':lag' if res['lagged'] else ''}" for r, res in tried)

        for n, rate in ((1_000, 100), (10_000, 1_000), (60_000, 10_000), (1_000, 1_000), (10_000, 10_000),
                        (60_000, 50_000)):
            res = trial(prefix, n, rate)
            t = res["timings"]
            base = t["build"] + t["send"] + t["dump"]
            figures[f"{n:,} @ {rate:,}/s: build+send+dump s / tool's own s / share"] = (
                f"{base:.2f} / {t['overhead']:.2f} / {t['overhead'] / base:.1%}"
                f"  (plan {t['plan']:.2f}, configure {t['configure']:.2f}, capture {t.get('capture', 0):.2f}, "
                f"verify-without-dump {t['verify'] - t['dump']:.2f}, cleanup {t['cleanup']:.2f})"
                f"{'' if res['passed'] else '  FAILED'}")
    report("run", figures, out="bench-out/run_bench.json")


if __name__ == "__main__":
    main()
