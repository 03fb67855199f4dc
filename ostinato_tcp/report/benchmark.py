"""The benchmark's report (``ostinato-tcp benchmark``) as text, CSV and a plot per trial's
search, from its JSON dict (:meth:`ostinato_tcp.jobs.benchmark.BenchmarkReport.to_dict`)."""

from __future__ import annotations

import csv
from pathlib import Path

CSV_FIELDS = ("trial", "step", "asked_rate", "measured_rate", "passed", "why", "generator_limited", "seconds",
              "retried")


def _rate(x) -> str:
    return "-" if x is None else f"{x:,.0f}/s"


def spread_text(s: dict) -> str:
    """median (min .. max) over the trials, and the percentiles when there were enough trials."""
    if s["median"] is None:
        return f"no figure in {s['trials']} trial(s)"
    out = (f"median {_rate(s['median'])} (min {_rate(s['minimum'])}, max {_rate(s['maximum'])}) over "
           f"{s['trials_with_a_figure']} of {s['trials']} trial(s)")
    if s["percentile_1"] is not None:
        out += f"; 1st percentile {_rate(s['percentile_1'])}, 99th {_rate(s['percentile_99'])}"
    else:
        out += f"; percentiles from {s['percentiles_from']} trials"
    return out


def benchmark_lines(d: dict) -> list[str]:
    """The DUT's settings and Drone's ceiling, each trial's search step by step, then the figure."""
    dut, c = d["dut"] or {}, d["ceiling"] or {}
    t = dut.get("timeouts") or {}
    top = _rate(d["top"]) if d["top"] else "Drone's usable ceiling"
    out = [f"benchmark: {d['scenario_name']}, maximum connection establishment rate, {d['trials_asked']} trial(s) "
           f"of {d['connections_per_step']:,} connections per step; floor {_rate(d['floor'])}, top {top}, resolution "
           f"{d['resolution'] * 100:g}%, validation {'by the traffic proof' if d['validation'] else 'off'}",
           f"  DUT: kernel {dut.get('kernel') or '?'}, nf_conntrack_max {dut.get('conntrack_max') or '?'}, buckets "
           f"{dut.get('buckets') or '?'}, SYN_SENT/SYN_RECV timeouts {t.get('syn_sent', '?')}/{t.get('syn_recv', '?')} s,"
           f" tcp_loose {dut.get('tcp_loose', '?')}, tcp_be_liberal {dut.get('tcp_be_liberal', '?')}",
           f"  Drone's send ceiling: {c.get('packets_per_second', 0):,.0f} packets/s per port (slower port); a step "
           f"asks at most {c.get('usable_share', 0) * 100:g}% of it" if c else "  Drone's send ceiling: not measured"]
    for tr in d["trials"]:
        gen = f", the generator's {_rate(tr['generator_bound'])}" if tr["generator_bound"] else ""
        out.append(f"  trial {tr['trial']}: {_rate(tr['figure'])} ({tr['outcome'] or 'stopped'}; bounds "
                   f"{_rate(tr['lower_bound'])} .. {_rate(tr['upper_bound'])}{gen})")
        for i, s in enumerate(tr["steps"]):
            word = "pass" if s["passed"] else "FAIL"
            out.append(f"    step {i + 1}: asked {_rate(s['asked_rate'])}, measured {_rate(s['measured_rate'])}: "
                       f"{word}{'' if s['passed'] else ' (' + s['why'] + ')'}; {s['seconds']:.1f} s"
                       + (f"; run again after: {'; '.join(s['retried'])}" if s["retried"] else ""))
    s = d["maximum_connection_establishment_rate"]
    if d.get("error"):
        out.append(f"ERROR  benchmark stopped: {d['error']}")
    top = d["trials_passed_at_the_top"]
    limited = (f" ({top} of {len(d['trials'])} trial(s) passed at the top: there the DUT kept up with the fastest "
               "rate asked, and the figure is the generator's)") if top else ""
    out.append(f"{d['verdict'].upper()}  maximum connection establishment rate: {spread_text(s)}{limited}; "
               f"{d['seconds']:.1f} s")
    return out


def write_benchmark_csv(d: dict, path) -> None:
    """One row per step of every trial."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for tr in d["trials"]:
            for i, s in enumerate(tr["steps"]):
                w.writerow({"trial": tr["trial"], "step": i + 1, **{k: s[k] for k in CSV_FIELDS[2:-1]},
                            "retried": "; ".join(s["retried"])})


def plot_searches(d: dict, path) -> str | None:
    """A PNG of each trial's search (rate per step, passes and failures); None when matplotlib is
    missing (the plots extra), which the caller says."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for tr in d["trials"]:
        steps = tr["steps"]
        xs = list(range(1, len(steps) + 1))
        ys = [s["measured_rate"] or s["asked_rate"] for s in steps]
        ax.plot(xs, ys, color="0.7", linewidth=0.8)
        ax.scatter([x for x, s in zip(xs, steps) if s["passed"]], [y for y, s in zip(ys, steps) if s["passed"]],
                   color="tab:green", s=14)
        ax.scatter([x for x, s in zip(xs, steps) if not s["passed"]],
                   [y for y, s in zip(ys, steps) if not s["passed"]], color="tab:red", marker="x", s=14)
    med = d["maximum_connection_establishment_rate"]["median"]
    if med:
        ax.axhline(med, color="tab:blue", linestyle="--", linewidth=0.8, label=f"median {med:,.0f}/s")
        ax.legend(loc="best")
    ax.set_xlabel("step")
    ax.set_ylabel("offered connection rate (measured), connections/s")
    ax.set_yscale("log")
    ax.set_title(f"{d['scenario_name']}: search per trial (green pass, red fail)")
    fig.tight_layout()
    fig.savefig(Path(path))
    plt.close(fig)
    return str(path)


__all__ = ["benchmark_lines", "plot_searches", "spread_text", "write_benchmark_csv"]
