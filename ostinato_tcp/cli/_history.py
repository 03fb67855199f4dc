"""``ostinato-tcp history / sweep``: scheduled regression and scale sweeps."""

from __future__ import annotations

import sys

import click

from ostinato_tcp.errors import EXIT_FAILED, EXIT_INCONCLUSIVE, EXIT_INFRA, EXIT_OK, UsageError
from ostinato_tcp.cli._base import (cli, drone_options, emit_json, history_db_option, history_options, html_option, output_options, password,
                    ssh_options, take_over_option)


@cli.command("history")
@history_db_option
@click.option("--scenario", "scenario_name", default=None, help="Only runs of this scenario name.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="How many runs to list.")
@click.option("--compare", "compare_id", default="latest", show_default=True,
              help="Run id to compare with the last passing run of the same test ('latest', or 'none').")
@click.option("--fail-on-regression", is_flag=True,
              help="Exit 1 when the compared run got worse, or failed with nothing to compare it with.")
@output_options
@html_option
def history_cmd(history_db, scenario_name, limit, compare_id, fail_on_regression, json, report_json,
                report_html) -> None:
    """List recorded runs and flag a run that got worse than the last passing one."""
    from ostinato_tcp.report.history import History

    with History.open(history_db) as hist:
        rows = hist.runs(scenario_name, limit)
        comparison = None
        if compare_id not in ("latest", "none") and not compare_id.isdigit():
            raise UsageError(f"--compare: {compare_id!r} is not a run id; give a number from the list, 'latest' or "
                             "'none'")
        if compare_id != "none" and rows:
            run = hist.latest(scenario_name) if compare_id == "latest" else hist.get(int(compare_id))
            if run is None:
                raise UsageError(f"--compare {compare_id}: no such run")
            comparison = hist.compare(run)
    data = {"runs": [{k: r[k] for k in ("id", "started_at", "scenario_name", "verdict", "expected",
                                        "established_assured", "carried_both_ways", "rate", "offered_connection_rate",
                                        "offered_rate_bound_pct", "end_to_end_rate", "packet_rate_a",
                                        "packet_rate_b", "dut_kernel", "drone_version", "origin")} for r in rows],
            "comparison": None if comparison is None else {
                "run": comparison.run["id"], "baseline": comparison.baseline["id"] if comparison.baseline else None,
                "basis": comparison.basis, "run_verdict": comparison.run["verdict"],
                "regressions": comparison.regressions}}
    emit_json(data, kind="history", as_json=json, report_json=report_json)
    if report_html:
        from ostinato_tcp.report.html import history_html, write_html

        write_html(history_html(data, scenario_name), report_html)
    if not (json or report_json == "-"):
        if not rows:
            click.echo("no runs recorded" + (f" for scenario {scenario_name}" if scenario_name else ""))
        else:
            click.echo(f"{'id':>5}  {'started (UTC)':<20}  {'scenario':<24} {'verdict':<7} {'established':>17}  "
                       f"{'asked/s':>9}  {'offered c/s':>11}  {'A pkts/s':>10}  {'B pkts/s':>10}")
        for r in rows:
            click.echo(f"{r['id']:>5}  {r['started_at']:<20}  {r['scenario_name'][:24]:<24} {r['verdict']:<7} "
                       f"{_count(r):>8}/{r['expected']:<8}  {r['rate'] or 0:>9,.0f}  "
                       f"{r['offered_connection_rate'] or 0:>11,.0f}  {r['packet_rate_a'] or 0:>10,.0f}  "
                       f"{r['packet_rate_b'] or 0:>10,.0f}")
        if any(r["established_assured"] is None for r in rows):
            click.echo("  Nc: N connections carried both ways, a run proven by traffic only (dut.kind none)")
        if comparison is not None:
            run = comparison.run
            if comparison.baseline is None:
                click.echo(f"run {run['id']}: no earlier passing run of '{run['scenario_name']}' to compare with "
                           f"({comparison.basis})")
            elif comparison.regressed:
                click.echo(f"REGRESSION: run {run['id']} against run {comparison.baseline['id']}: "
                           + "; ".join(comparison.regressions) + f" (compared by {comparison.basis})")
            else:
                click.echo(f"run {run['id']} is no worse than run {comparison.baseline['id']} (last passing run; "
                           f"compared by {comparison.basis})")
            if comparison.failed and comparison.baseline is None:
                click.echo(f"FAILED: run {run['id']} did not pass its verdict ({run['verdict']})")
    if fail_on_regression:  # a gate: it must have compared something, and the latest run must have tested the DUT
        if comparison is None:
            click.echo("ostinato-tcp: --fail-on-regression compared nothing: no runs recorded"
                       + (f" for scenario {scenario_name!r}" if scenario_name else "") + f" in {hist.path}",
                       err=True)
            sys.exit(EXIT_INCONCLUSIVE)
        if comparison.regressed or comparison.failed:
            sys.exit(EXIT_FAILED)
        if comparison.run.get("verdict") == "inconclusive":
            click.echo(f"ostinato-tcp: run {comparison.run['id']} was inconclusive (the traffic, not the DUT): "
                       "nothing was compared", err=True)
            sys.exit(EXIT_INCONCLUSIVE)
        if comparison.baseline is None:
            click.echo(f"ostinato-tcp: run {comparison.run['id']} passed but there is no earlier passing run of the "
                       "same test to compare it with", err=True)


@cli.command("sweep")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Directory for the points, results.csv, results.json, junit.xml and the plots.")
@click.option("--lab", "lab", default=None, metavar="PREFIX",
              help="Take Drone and DUT endpoints from this running built-in lab (overrides the base scenario's "
                   "'lab:').")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Change a value of the base scenario, e.g. --set traffic.window=512 (repeatable).")
@click.option("--restart", is_flag=True, help="Run every point again, also those already in --out.")
@click.option("-q", "--quiet", is_flag=True, help="Plain lines, no progress bar (measures the same).")
@output_options
@html_option
@drone_options
@ssh_options
@history_options
@take_over_option
def sweep_cmd(sweep_file, out_dir, lab, sets, restart, quiet, json, report_json, report_html, drone_backend,
              accept_new_host_key, ask_dut_password, history_db, no_history, take_over_ports) -> None:
    """Run a base scenario over counts x rates (x delays); write CSV, JSON, JUnit XML and plots.

    Exit codes: 0 every grid point passed, 1 a grid point failed its verdict (the DUT), 4 none failed but a
    grid point was inconclusive or refused (the traffic could not test it: a rate above Drone's ceiling, the
    order broken before the DUT), 2 bad sweep file, 3 a point could not run (Drone or DUT fault). Points
    already in --out are not run again.
    """
    from ostinato_tcp.cli._console import sweep_events
    from contextlib import nullcontext

    from ostinato_tcp.report.history import History
    from ostinato_tcp.lab import read_endpoints
    from ostinato_tcp.run.options import RunOptions
    from ostinato_tcp.jobs.sweep import load_sweep, run_sweep

    sweep = load_sweep(sweep_file, lab=lab, lab_reader=read_endpoints, sets=list(sets))
    opts = RunOptions(drone_backend=drone_backend, accept_new_host_key=accept_new_host_key,
                      dut_password=password(ask_dut_password), take_over_ports=take_over_ports)
    events = sweep_events(quiet or json)
    try:
        with (nullcontext() if no_history else History.open(history_db)) as hist:
            summary = run_sweep(sweep, out_dir, opts=opts, events=events, restart=restart, history=hist)
    finally:
        events.close()
    emit_json({"summary": summary, "results_dir": str(out_dir)}, kind="sweep", as_json=json,
              report_json=report_json)
    if report_html:
        import json as _json
        from pathlib import Path

        from ostinato_tcp.report.html import sweep_html, write_html

        write_html(sweep_html(_json.loads((Path(out_dir) / "results.json").read_text()), out_dir), report_html)
    if not (json or report_json == "-"):
        _print_sweep(summary, out_dir)
    if summary["errors"]:
        sys.exit(EXIT_INFRA)
    if summary.get("grid_failed", 0):
        sys.exit(EXIT_FAILED)
    sys.exit(EXIT_INCONCLUSIVE if summary.get("grid_inconclusive", 0) or summary.get("grid_refused", 0) else EXIT_OK)


def _asked(rate) -> str:
    return f"{rate:,.0f}/s" if isinstance(rate, (int, float)) else str(rate)


def _print_sweep(summary: dict, out_dir: str) -> None:
    click.echo(f"sweep {summary['sweep']}: {summary['grid_passed']}/{summary['grid_points']} grid points passed"
               + (f", {summary.get('grid_failed', 0)} failed" if summary.get("grid_failed", 0) else "")
               + (f", {summary.get('grid_inconclusive', 0)} inconclusive (the traffic, not the DUT)"
                  if summary.get("grid_inconclusive", 0) else "")
               + (f", {summary.get('grid_refused', 0)} refused by the plan" if summary.get("grid_refused", 0) else "")
               + (f", {summary.get('grid_lagged', 0)} with a port slower than asked (counted at the rate measured)"
                  if summary.get("grid_lagged", 0) else "")
               + (f", {summary['errors']} error(s)" if summary["errors"] else "") + f"; results in {out_dir}")
    for count, m in summary["maximum_connection_establishment_rate"].items():
        best, above = m["connections_per_second"], m["first_failing_above"]
        click.echo(f"  {int(count):>9,} connections: maximum connection establishment rate "
                   + (f"{best:,.0f}/s ±{m['bound_pct']:.1f}% measured (point {m['point']}, asked "
                      f"{_asked(m['asked_rate'])})" if best is not None else "none passed")
                   + (f"; fails at {above:,.0f}/s" if above else "; no failing rate tried above it"))
        if m["not_counted_bound_over_5pct"]:
            click.echo(f"    passed but not counted (send too short to time within 5%): "
                       f"{', '.join(m['not_counted_bound_over_5pct'])}")
        for lag in m["lagged_points"]:
            click.echo(f"    point {lag['point']}: LAGGED, asked {_asked(lag['asked_rate'])}, Drone offered "
                       f"{lag['measured_offered_rate'] or 0:,.0f}/s: {lag['status']} at the rate measured")
        for nt in m.get("not_tested", []):
            click.echo(f"    point {nt['point']}: {nt['status'].upper()}, asked {_asked(nt['asked_rate'])}: {nt['why']}")
    for count, m in summary.get("connection_teardown_rate", {}).items():
        retire = m["dut_retire_rate"]
        click.echo(f"  {int(count):>9,} connections: connection tear-down rate ({m['mode']}) "
                   f"{m['teardowns_per_second']:,.0f}/s ±{m['bound_pct']:.1f}% offered (point {m['point']})"
                   + (f"; DUT retire rate {retire:,.0f}/s"
                      + (f" ±{m['dut_retire_bound_pct']:.0f}%" if m["dut_retire_bound_pct"] is not None else " ±?")
                      if retire else ""))
    for note in summary.get("notes", []):
        click.echo(f"  {note}")
    cap = summary["connection_tracking_table_capacity"]
    click.echo(f"  connection tracking table capacity: largest count fully established "
               f"{cap['largest_count_fully_established'] or 0:,} (DUT nf_conntrack_max "
               f"{cap['dut_nf_conntrack_max'] or '?'})")


def _count(r: dict) -> str:
    """A row's ESTABLISHED+ASSURED; a run proven by traffic only (no table) shows its carried count, marked."""
    if r["established_assured"] is not None:
        return str(r["established_assured"])
    return f"{r.get('carried_both_ways') or 0}c"
