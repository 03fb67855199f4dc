"""``ostinato-tcp conformance``: handshakes that must not establish, case by case."""

from __future__ import annotations

import sys

import click

from ostinato_tcp.cli._base import (cli, drone_options, load, output_options, password, print_job_report,
                                    scenario_options, ssh_options, take_over_option)


@cli.command("conformance")
@click.argument("scenario", type=click.Path(dir_okay=False))
@scenario_options
@click.option("--count", type=int, default=1000, show_default=True, help="Connections per case.")
@click.option("--case", "case_names", multiple=True, metavar="NAME",
              help="Run only this case (repeatable; default: the whole catalogue, see docs/conformance.md).")
@click.option("--strict", is_flag=True,
              help="A case the DUT's settings explain (e.g. nf_conntrack_tcp_be_liberal=1) fails too.")
@click.option("--no-capture", is_flag=True,
              help="Do not capture on the ports (what the DUT forwarded of each step is then not measured; each "
                   "case about 1.3 s shorter).")
@output_options
@click.option("--junit", type=click.Path(dir_okay=False), help="Write one JUnit testcase per case to this file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output; only the table.")
@drone_options
@ssh_options
@take_over_option
def conformance_cmd(scenario, lab, lab_file, sets, count, case_names, strict, no_capture, json, report_json, junit, quiet,
                    drone_backend, accept_new_host_key, ask_dut_password, take_over_ports) -> None:
    """Run the catalogue of handshakes a strict tracker refuses (and the RSTs it must take), each case
    over --count connections on the scenario's ports and DUT, the DUT's table cleared between cases,
    and prove each connection's end state against what the kernel's TCP tracking rules expect with
    the DUT's settings.

    Exit codes: 0 every case as expected (pass, or explained by a DUT setting unless --strict);
    1 a case failed; 2 bad input; 3 a fault (traffic stopped on every port)."""
    from ostinato_tcp.cli._console import make_events
    from ostinato_tcp.domain.conformance import select
    from ostinato_tcp.errors import UsageError
    from ostinato_tcp.jobs.conformance import check_scenario, run_conformance
    from ostinato_tcp.report.conformance import conformance_lines, write_conformance_junit
    from ostinato_tcp.run.options import RunOptions

    sc = load(scenario, lab, lab_file, sets)
    try:
        cases = select(list(case_names))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if count < 1:
        raise UsageError(f"--count {count}: must be at least 1")
    check_scenario(sc)
    opts = RunOptions(drone_backend=drone_backend, accept_new_host_key=accept_new_host_key,
                      dut_password=password(ask_dut_password), take_over_ports=take_over_ports)
    events = make_events(quiet or json)
    try:
        report = run_conformance(sc, cases, count, opts, events, strict=strict, capture=not no_capture)
    finally:
        close = getattr(events, "close", None)
        if close:
            close()
    if report.exception is not None and report.exit_code == 2 and not report.cases:
        raise report.exception  # refused before anything was sent: one line, exit 2
    data = report.to_dict()
    print_job_report(report, data, conformance_lines, kind="conformance", as_json=json, report_json=report_json)
    if junit:
        write_conformance_junit(data, junit)
    sys.exit(report.exit_code)
