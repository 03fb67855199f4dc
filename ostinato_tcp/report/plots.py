"""PNG plots of a sweep (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(rows: list[dict], out: Path) -> list[Path]:
    """``rows``: CSV-shaped dicts of the points. Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    written = []
    rows = [r for r in rows if r.get("status") in ("pass", "fail")]  # points that tested the DUT
    counts = sorted({r["count"] for r in rows})
    rates = sorted({r["rate"] for r in rows})

    # 1. Success ratio against the measured offered connection rate, one line per count;
    #    a point where a port lagged is drawn hollow (its asked rate was not reached).
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for c in counts:
        pts = sorted((r["offered_connection_rate"], r["success_ratio"] * 100, bool(r["lagged_a"] or r["lagged_b"]))
                     for r in rows if r["count"] == c and r.get("offered_connection_rate"))
        line = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{c:,} connections")[0]
        lag = [p for p in pts if p[2]]
        if lag:
            ax.plot([p[0] for p in lag], [p[1] for p in lag], linestyle="none", marker="o", markersize=11,
                    markerfacecolor="none", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("measured offered connection rate (SYNs sent / SYN phase time, per second); hollow: lagged")
    ax.set_ylabel("ESTABLISHED+ASSURED (% of expected)")
    ax.set_ylim(-5, 105)
    ax.set_title("Connection establishment success against the offered rate")
    ax.grid(True, which="both", alpha=0.3)
    if counts:
        ax.legend(title="count")
    written.append(_save(plt, fig, out / "success_vs_rate.png"))

    # 2. Established entries against count, one line per rate.
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for rate in rates:
        pts = sorted((r["count"], r["established_assured"]) for r in rows if r["rate"] == rate)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{rate:,.0f}/s")
    if counts:
        ax.plot([min(counts), max(counts)], [min(counts), max(counts)], linestyle="--", color="grey",
                label="all expected")
        ax.legend(title="asked packet rate per stream")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("connections expected")
    ax.set_ylabel("entries ESTABLISHED+ASSURED on the DUT")
    ax.set_title("Established entries against connection count")
    ax.grid(True, which="both", alpha=0.3)
    written.append(_save(plt, fig, out / "established_vs_count.png"))

    # 3. Time per phase for every point (stacked bars).
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(rows) + 2), 5), dpi=110)
    labels = [f"{r['count']:,}\n@{r['rate']:,.0f}/s asked" for r in rows]
    bottom = [0.0] * len(rows)
    for key, label in (("configure_s", "configure"), ("build_s", "Drone build"), ("send_s", "send"),
                       ("verify_s", "verify")):
        vals = [float(r.get(key) or 0) for r in rows]
        ax.bar(range(len(rows)), vals, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_xlabel("point (connections @ rate)")
    ax.set_ylabel("seconds")
    ax.set_title("Time per phase")
    ax.legend()
    ax.grid(True, axis="y", alpha=0.3)
    written.append(_save(plt, fig, out / "phase_times.png"))

    # 4. With traffic.teardown: the offered tear-down rate and the DUT's retire rate against
    #    the offered connection rate of the same point.
    td = [r for r in rows if r.get("offered_teardown_rate")]
    if td:
        fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
        for c in counts:
            pts = sorted((r["offered_connection_rate"], r["offered_teardown_rate"], r.get("dut_retire_rate"))
                         for r in td if r["count"] == c and r.get("offered_connection_rate"))
            line = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{c:,}: offered")[0]
            ret = [p for p in pts if p[2]]
            ax.plot([p[0] for p in ret], [p[2] for p in ret], marker="x", linestyle="--", color=line.get_color(),
                    label=f"{c:,}: DUT retire")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("measured offered connection rate (per second)")
        ax.set_ylabel("tear-downs per second")
        ax.set_title("Connection tear-down rate (offered, and the DUT's retire rate)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        written.append(_save(plt, fig, out / "teardown_rate.png"))
    return written
