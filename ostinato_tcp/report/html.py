"""HTML reports (``--report-html FILE``) of a run, a sweep and a scenario's history.

One self-contained file each: the styles inline, plots embedded (SVG drawn by matplotlib
when it is installed, the sweep's PNGs as data URIs), no script, nothing fetched from the
network. A run's report has the verdict, the outcome and the diagnosis, every figure with
its definition as docs/figures.md gives it, the ports, the batches, the plan and the DUT's
settings; a sweep's its grid, the knee (the maximum connection establishment rate and the
capacity per count) and the plots; the history's the trend of a scenario's runs.
The reports take the JSON outputs (report/contract.py) as they are, so they show exactly
what the JSON holds."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any, Iterable

from ostinato_tcp.report.definitions import figure_definitions

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;
color:#1b1f24;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
.meta{color:#57606a;margin-bottom:12px}
.verdict{display:inline-block;font-weight:700;font-size:20px;padding:6px 14px;border-radius:6px;color:#fff}
.pass{background:#1a7f37} .fail{background:#cf222e} .inconclusive{background:#9a6700} .error{background:#6e7781}
.refused{background:#8250df}
table{border-collapse:collapse;width:100%;margin:6px 0 12px} th,td{border:1px solid #d0d7de;padding:4px 8px;
text-align:left;vertical-align:top} th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
td.def{color:#57606a;font-size:12.5px} ul{margin:4px 0 12px} .note{color:#57606a}
.plot{margin:8px 0} .plot img,.plot svg{max-width:100%;height:auto}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _rate_text(r: dict) -> str:
    if not r or r.get("per_second") is None:
        return ""
    pct = r.get("bound_pct")
    bound = "±?" if pct is None else (f"±{pct:.2f}%" if pct < 0.1 else f"±{pct:.1f}%")
    return f"{r['per_second']:,.1f}/s {bound} over {r.get('seconds', 0):.3g} s" + \
        (" (estimated)" if r.get("estimated") else "")


def _established(r: dict) -> str:
    """A history row's ESTABLISHED+ASSURED, or its carried count for a run proven by traffic only."""
    if r.get("established_assured") is None:
        return f"{r.get('carried_both_ways') or 0:,}/{r.get('expected', 0):,} carried (by traffic only)"
    return f"{r['established_assured']:,}/{r.get('expected', 0):,}"


def _value_text(v: Any) -> str:
    if isinstance(v, dict):
        if "per_second" in v:
            return _rate_text(v)
        if "packets_per_second" in v:  # the send ceiling
            return f"{v['packets_per_second']:,.0f} packets/s (a run may ask {v.get('usable_packets_per_second', 0):,.0f})"
        return ", ".join(f"{k} {_value_text(x)}" for k, x in v.items()) or "none"
    if isinstance(v, list):
        return ", ".join(_value_text(x) for x in v) or "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _get(d: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _resolve(d: dict, key: str) -> list[tuple[str, Any]]:
    """(where, value) of a figure's key in a run's JSON: ``ports.X.packet_rate`` for every
    port, ``drone_build[].x`` for every Drone, a port-level key (``sent_packets``) per port."""
    if key.startswith("ports.X."):
        rest = key[len("ports.X."):]
        return [(f"ports.{side}.{rest}", _get(p, rest)) for side, p in (d.get("ports") or {}).items()]
    if "[]." in key:
        head, rest = key.split("[].", 1)
        return [(f"{head}[{i}].{rest}", _get(x, rest)) for i, x in enumerate(_get(d, head) or [])]
    top = _get(d, key)
    if top is not None:
        return [(key, top)]
    return [(f"ports.{side}.{key}", _get(p, key)) for side, p in (d.get("ports") or {}).items()
            if _get(p, key) is not None]


def _table(head: Iterable[str], rows: Iterable[Iterable[Any]], num: Iterable[int] = ()) -> str:
    num = set(num)
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td class=\"num\">{_e(c)}</td>" if i in num else f"<td>{_e(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    return "\n".join(out + ["</table>"])


def _list(items: Iterable[str], empty: str = "none") -> str:
    items = list(items)
    return "<ul>" + "".join(f"<li>{_e(x)}</li>" for x in items) + "</ul>" if items else f"<p class=\"note\">{empty}</p>"


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width\"><title>{_e(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _svg_plot(draw) -> str:
    """An inline SVG drawn by ``draw(ax)`` with matplotlib; empty when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return ""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    draw(ax)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    return "<div class=\"plot\">" + text[text.index("<svg"):] + "</div>"


def _no_plots_note() -> str:
    return "<p class=\"note\">plots need matplotlib (pip install 'ostinato-tcp[plots]')</p>"


# ------------------------------------------------------------------------------------------ run
def _figure_rows(d: dict) -> list[tuple[str, str, str, str]]:
    """(figure, where in the JSON, value, definition); a figure of every port (or Drone) is one
    row with each one's value."""
    rows, seen = [], set()
    for df in figure_definitions():
        for key in df.keys:
            found = [(where, value) for where, value in _resolve(d, key)
                     if value is not None and value != {} and where not in seen]
            if not found:
                continue
            seen.update(where for where, _ in found)
            if len(found) == 1:
                rows.append((df.label, found[0][0], _value_text(found[0][1]), df.text))
            else:
                parts = [where.split(".")[1] if where.startswith("ports.") else where for where, _ in found]
                rows.append((df.label, ", ".join(w for w, _ in found),
                             "; ".join(f"{p.upper() if len(p) <= 3 else p}: {_value_text(v)}"
                                       for p, (_, v) in zip(parts, found)), df.text))
    return rows


def run_html(d: dict) -> str:
    """The HTML report of a run from its JSON (:func:`ostinato_tcp.report.result_to_dict`)."""
    verdict = d.get("verdict") or "error"
    plan = d.get("plan") or {}
    hb = (d.get("dut") or {}).get("before") or {}
    out = d.get("outcome") or {}
    body = [f"<h1>ostinato-tcp run: {_e(d.get('scenario_name'))}</h1>",
            f"<div class=\"meta\">started {_e(d.get('started_at'))} UTC, scenario file {_e(d.get('scenario_file'))}"
            f" (hash {_e(d.get('scenario_hash'))}), ostinato-tcp {_e((d.get('tool') or {}).get('version'))}</div>",
            f"<div id=\"verdict\" class=\"verdict {_e(verdict)}\">{_e(verdict.upper())}  "
            + (f"<span id=\"established\">{d['established_assured']:,}/{d.get('expected', 0):,}</span> "
               "ESTABLISHED+ASSURED</div>" if d.get("established_assured") is not None else
               f"<span id=\"carried\">{(d.get('traffic_proof') or {}).get('carried_both_ways', 0):,}/"
               f"{d.get('expected', 0):,}</span> carried both ways, by traffic only</div>")]
    if d.get("error"):
        body.append(f"<p><b>error:</b> {_e(d['error'])} ({_e(d.get('error_type'))})</p>")
    body += ["<h2>Outcome</h2>", _table(["figure", "value"], [(k, _value_text(out.get(k))) for k in
                                                  ("outcome", "delivered_in_order", "failed_in_order",
                                                   "sent_past_dut_timeouts", "failed_by_the_traffic",
                                                   "failed_by_the_dut")]),
             f"<p class=\"note\">{_e(out.get('rule'))}</p>", _list(out.get("reasons") or [], "no reasons given"),
             "<h2>Diagnosis</h2>", _list(d.get("diagnosis") or [], "nothing to explain"),
             "<h2>Warnings</h2>", _list(d.get("warnings") or [])]
    body += ["<h2>Figures</h2>", "<p class=\"note\">each figure as measured in this run, with its definition "
             "(docs/figures.md)</p>"]
    rows = _figure_rows(d)
    body.append("<table><tr><th>figure</th><th>in the JSON</th><th>value</th><th>definition</th></tr>" + "".join(
        f"<tr><td>{_e(a)}</td><td><code>{_e(b)}</code></td><td class=\"num\" data-figure=\"{_e(b)}\">{_e(c)}</td>"
        f"<td class=\"def\">{_e(t)}</td></tr>" for a, b, c, t in rows) + "</table>" if rows else
                _no_definitions_note())
    ports = d.get("ports") or {}
    body += ["<h2>Ports</h2>", _table(
        ["port", "name", "Drone", "sent / expected TCP packets", "other frames", "counted by", "packet rate",
         "lagged"],
        [(side.upper(), p.get("name"), p.get("drone"), f"{p.get('sent_packets'):,}/{p.get('expected_packets'):,}",
          p.get("other_frames"), p.get("counted_by"), _rate_text(p.get("packet_rate") or {}),
          "yes" if p.get("lagged") else "no") for side, p in ports.items()], num=(4,))]
    batches = d.get("batches_sent") or []
    if batches:
        body += ["<h2>Batches</h2>", _table(
            ["batch", "first", "count", "mode", "delay s", "margin s", "order known by", "suspect"],
            [(b["batch"], b["first"], b["count"], b["mode"], b.get("delay"), b.get("margin"), b.get("order_known_by"),
              "yes" if b.get("suspect") else "no") for b in batches], num=(0, 1, 2, 4, 5))]
    body += ["<h2>Plan</h2>", _table(["setting", "value"], [
        ("mode", f"{plan.get('mode')} ({plan.get('mode_why') or 'as asked'})"),
        ("rate", f"{_value_text(plan.get('rate'))} packets/s per stream ({plan.get('rate_why')})"),
        ("delay", plan.get("delay")), ("batches", f"{plan.get('batches')} of {plan.get('batch_size')}"),
        ("client IPs / server endpoints", f"{plan.get('client_ips')} / {plan.get('server_endpoints')}"),
        ("min margin", f"{plan.get('min_margin')} s ({plan.get('margin_why')})"),
        ("expected seconds", plan.get("expected_seconds")),
        ("send ceiling", _value_text(plan.get("ceiling")) if plan.get("ceiling") else "not measured"),
        ("problems", _value_text(plan.get("problems") or []))]) if plan else "<p class=\"note\">no plan</p>"]
    body += ["<h2>The DUT's settings</h2>", _table(["setting", "before the run"], [
        ("kernel", hb.get("kernel")), ("nf_conntrack_max", hb.get("max")), ("nf_conntrack_buckets", hb.get("buckets")),
        ("nf_conntrack_count", hb.get("count")), ("nf_conntrack_tcp_loose", hb.get("tcp_loose")),
        ("nf_conntrack_timestamp", hb.get("timestamp")), ("SYN_SENT timeout s", hb.get("syn_sent_timeout")),
        ("SYN_RECV timeout s", hb.get("syn_recv_timeout")), ("ESTABLISHED timeout s", hb.get("established_timeout")),
        ("counter deltas", _value_text((d.get("dut") or {}).get("counter_deltas") or {}))]) if hb else
             "<p class=\"note\">the DUT was not read</p>"]
    timings = {k: v for k, v in (d.get("timings") or {}).items() if k not in ("total", "overhead") and v}
    body += ["<h2>Where the time went</h2>", _table(["phase", "seconds"], sorted(
        (d.get("timings") or {}).items(), key=lambda kv: -kv[1]), num=(1,))]
    if timings:
        plot = _svg_plot(lambda ax: (ax.barh(list(timings), list(timings.values()), color="#0969da"),
                                     ax.set_xlabel("seconds"), ax.invert_yaxis(),
                                     ax.set_title("time per phase (timings)")))
        body.append(plot or _no_plots_note())
    return _page(f"ostinato-tcp {verdict.upper()} {d.get('scenario_name')}", body)


def _no_definitions_note() -> str:
    return "<p class=\"note\">docs/figures.md is not installed: the definitions are not shown</p>"


# ---------------------------------------------------------------------------------------- sweep
def sweep_html(results: dict, plots_dir: str | os.PathLike | None = None) -> str:
    """The HTML report of a sweep from its results.json; the PNG plots in ``plots_dir`` are embedded."""
    s, points = results.get("summary") or {}, results.get("points") or []
    defs = {df.label.split(" (")[0]: df.text for df in figure_definitions()}
    status = "pass" if s.get("grid_failed", 0) == 0 and s.get("errors", 0) == 0 and not s.get("grid_inconclusive") \
        and not s.get("grid_refused") else ("fail" if s.get("grid_failed") else "inconclusive")
    body = [f"<h1>ostinato-tcp sweep: {_e(s.get('sweep'))}</h1>",
            f"<div id=\"verdict\" class=\"verdict {status}\">{status.upper()}  "
            f"<span id=\"grid\">{s.get('grid_passed', 0)}/{s.get('grid_points', 0)}</span> grid points passed</div>",
            _table(["figure", "value"], [(k, s.get(k)) for k in ("points", "grid_points", "grid_passed", "grid_failed",
                                                       "grid_inconclusive", "grid_refused", "grid_lagged", "errors")],
                   num=(1,))]
    knee = s.get("maximum_connection_establishment_rate") or {}
    body += ["<h2>The knee: maximum connection establishment rate per count</h2>",
             f"<p class=\"def\">{_e(defs.get('maximum connection establishment rate', s.get('maximum_rate_rule')))}</p>",
             _table(["count", "connections/s", "bound %", "point", "asked rate", "first failing above"],
                    [(f"{int(c):,}", _value_text(k.get("connections_per_second")), k.get("bound_pct"), k.get("point"),
                      k.get("asked_rate"), k.get("first_failing_above")) for c, k in knee.items()], num=(0, 1, 2))]
    cap = s.get("connection_tracking_table_capacity") or {}
    body += ["<h2>Connection tracking table capacity</h2>", _table(["figure", "value"], list(cap.items()), num=(1,))]
    body += ["<h2>Grid</h2>", _table(
        ["point", "count", "asked rate", "status", "ESTABLISHED+ASSURED", "offered connection rate", "mode"],
        [(p.get("point_name"), f"{p.get('count', 0):,}", p.get("rate"), p.get("status") or p.get("verdict"),
          f"{p.get('established_assured', 0):,}/{p.get('expected', 0):,}",
          _rate_text(((p.get("rates") or {}).get("offered_connection_rate")) or {}), (p.get("plan") or {}).get("mode"))
         for p in points], num=(1, 2))]
    body.append("<h2>Plots</h2>")
    pngs = sorted(Path(plots_dir).glob("*.png")) if plots_dir else []
    for png in pngs:
        data = base64.b64encode(png.read_bytes()).decode()
        body.append(f"<div class=\"plot\"><img alt=\"{_e(png.stem)}\" src=\"data:image/png;base64,{data}\"></div>")
    if not pngs:
        body.append(_no_plots_note())
    return _page(f"ostinato-tcp sweep {s.get('sweep')}", body)


# -------------------------------------------------------------------------------------- history
def history_html(data: dict, scenario: str | None = None) -> str:
    """The HTML report of the history (``history --json``): the trend of the runs listed."""
    runs = list(reversed(data.get("runs") or []))  # oldest first
    cmp_ = data.get("comparison") or {}
    regressions = cmp_.get("regressions") or []
    status = "fail" if regressions else ("pass" if runs and runs[-1].get("verdict") == "pass" else
                                         (runs[-1].get("verdict") if runs else "error"))
    title = f"ostinato-tcp history{': ' + scenario if scenario else ''}"
    body = [f"<h1>{_e(title)}</h1>",
            f"<div id=\"verdict\" class=\"verdict {_e(status)}\">"
            + (f"{len(regressions)} REGRESSION(S)" if regressions else
               f"LATEST {_e((runs[-1].get('verdict') or '').upper())}" if runs else "NO RUNS") + "</div>"]
    if cmp_:
        body.append(f"<p>run {_e(cmp_.get('run'))} against baseline {_e(cmp_.get('baseline'))} "
                    f"({_e(cmp_.get('basis'))})</p>")
        body.append(_list([_value_text(r) for r in regressions], "no regression"))
    body += ["<h2>Runs</h2>", _table(
        ["id", "started", "scenario", "verdict", "ESTABLISHED+ASSURED", "asked rate", "offered connection rate",
         "bound %", "end-to-end rate", "DUT kernel"],
        [(r["id"], r["started_at"], r["scenario_name"], r["verdict"],
          _established(r), r.get("rate"),
          r.get("offered_connection_rate"), r.get("offered_rate_bound_pct"), r.get("end_to_end_rate"), r.get("dut_kernel"))
         for r in reversed(runs)], num=(0, 5, 6, 7, 8))]
    if runs:
        def draw(ax):
            xs = list(range(len(runs)))
            ax.plot(xs, [r.get("offered_connection_rate") or 0 for r in runs], marker="o", color="#0969da",
                    label="offered connection rate /s")
            ax.set_ylabel("connections per second")
            ax2 = ax.twinx()
            ax2.plot(xs, [100 * (r.get("established_assured") or 0) / (r.get("expected") or 1) for r in runs],
                     marker="s", color="#1a7f37", label="ESTABLISHED+ASSURED %")
            ax2.set_ylim(-5, 105)
            ax2.set_ylabel("% of expected")
            ax.set_xticks(xs)
            ax.set_xticklabels([str(r["id"]) for r in runs], fontsize=8)
            ax.set_xlabel("run id (oldest first)")
            ax.set_title("trend of the runs")
            ax.legend(loc="lower left")
            ax2.legend(loc="lower right")

        body += ["<h2>Trend</h2>", _svg_plot(draw) or _no_plots_note()]
    return _page(title, body)


def write_html(text: str, path: str | os.PathLike) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
