"""``ostinato-tcp benchmark``: RFC 9693's figures by its procedures, over repeated trials."""

from __future__ import annotations

import sys
import time

import click

from ostinato_tcp.cli._base import (cli, drone_options, load, output_options, password, print_job_report,
                                    scenario_options, ssh_options, take_over_option)


@cli.command("benchmark")
@click.argument("scenario", type=click.Path(dir_okay=False))
@scenario_options
@click.option("--figure", default="establishment-rate", show_default=True,
              type=click.Choice(["establishment-rate"]),
              help="The figure to measure: the maximum connection establishment rate (binary search).")
@click.option("--trials", type=int, default=10, show_default=True, help="Searches to run; the figure is their median.")
@click.option("--floor", type=float, default=1000.0, show_default=True,
              help="Connections per second the search tries after Drone's ceiling; it must pass.")
@click.option("--top", type=float, default=None,
              help="Connections per second the search tries first (default: traffic.rate max, the usable share of "
                   "Drone's measured send ceiling).")
@click.option("--resolution", type=float, default=0.01, show_default=True,
              help="Stop a search when its bounds are within this share of each other (0.01: 1%).")
@click.option("--no-validation", is_flag=True,
              help="Do not send the traffic proof in each step (the table alone decides; faster, not the RFC's).")
@output_options
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write every step of every trial to this CSV.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write one PNG of every trial's search (rate per step, passes and failures) to this file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output; only the report.")
@drone_options
@ssh_options
@take_over_option
def benchmark_cmd(scenario, lab, lab_file, sets, figure, trials, floor, top, resolution, no_validation, json, report_json,
                  csv_path, plot, quiet, drone_backend, accept_new_host_key, ask_dut_password,
                  take_over_ports) -> None:
    """Measure the maximum connection establishment rate the way RFC 9693 does: a binary search
    on the rate between --floor and Drone's measured ceiling, each step a run of the scenario's
    connections from a fresh table that passes only when every connection is ESTABLISHED and
    [ASSURED] by this run and carries a data segment each way, no port lagged and the DUT's
    counters show no loss; repeated --trials times, reported as median, minimum and maximum (and
    the 1st and 99th percentiles from 20 trials). See docs/rfc9693.md.

    Exit codes: 0 every trial gave a figure; 1 a trial gave none (the floor failed); 2 bad input;
    3 a fault (traffic stopped on every port)."""
    from ostinato_tcp.jobs.benchmark import BenchmarkEvents, check_request, run_benchmark
    from ostinato_tcp.report.benchmark import benchmark_lines, plot_searches, write_benchmark_csv
    from ostinato_tcp.run.options import RunOptions

    sc = load(scenario, lab, lab_file, sets)
    check_request(sc, figure, trials, floor, resolution, top)
    opts = RunOptions(drone_backend=drone_backend, accept_new_host_key=accept_new_host_key,
                      dut_password=password(ask_dut_password), take_over_ports=take_over_ports)

    class Progress(BenchmarkEvents):
        def step_done(self, trial, total, step_no, step):
            if not (quiet or json):
                word = "pass" if step.passed else f"FAIL ({step.why})"
                measured = f"{step.measured:,.0f}/s" if step.measured else "-"
                click.echo(f"[{time.strftime('%H:%M:%S')}] trial {trial}/{total} step {step_no}: asked "
                           f"{step.asked:,.0f}/s, measured {measured}: {word}", err=True)

    report = run_benchmark(sc, figure=figure, trials=trials, floor=floor, top=top, resolution=resolution,
                           validation=not no_validation, opts=opts, events=Progress())
    if report.exception is not None and report.exit_code == 2 and not any(s.steps for s in report.searches):
        raise report.exception  # refused before anything was sent: one line, exit 2
    data = report.to_dict()
    print_job_report(report, data, benchmark_lines, kind="benchmark", as_json=json, report_json=report_json)
    if csv_path:
        write_benchmark_csv(data, csv_path)
    if plot and plot_searches(data, plot) is None:
        click.echo("ostinato-tcp: plot skipped: matplotlib is not installed (pip install 'ostinato-tcp[plots]')",
                   err=True)
    sys.exit(report.exit_code)
