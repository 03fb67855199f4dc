"""The ``ostinato-tcp`` command line: the only place that prints and picks exit codes."""

from __future__ import annotations

import json
import logging
import sys

import click

from . import _signals
from .errors import EXIT_INFRA, EXIT_USAGE, Interrupted, OstinatoTcpError, UsageError

log = logging.getLogger("ostinato_tcp")


def _echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


_DEBUG = False  # set by --debug


class _Group(click.Group):
    """Turns errors into one line on stderr and an exit code; ``--debug`` adds the traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OstinatoTcpError as exc:
            self._traceback()
            click.echo(f"ostinato-tcp: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except Interrupted as exc:
            self._traceback()
            click.echo(f"ostinato-tcp: stopped by {exc}: transmit stopped on every port of the run, what it created "
                       "on Drone removed, port settings restored", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug: still one line, unless --debug
            self._traceback()
            click.echo(f"ostinato-tcp: internal error (a bug; --debug shows the traceback): "
                       f"{type(exc).__name__}: {exc}", err=True)
            ctx.exit(EXIT_INFRA)

    @staticmethod
    def _traceback() -> None:
        if _DEBUG:
            import traceback

            traceback.print_exc()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--debug", is_flag=True, help="Debug log output and a traceback with every error.")
@click.version_option(package_name="ostinato-tcp")
def cli(verbose: int, debug: bool) -> None:
    """Establish N fake TCP connections through a DUT with Ostinato's Drone and prove them in conntrack."""
    global _DEBUG
    _DEBUG = debug
    level = logging.DEBUG if debug else logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    _signals.install()


# --------------------------------------------------------------------------- lab
@cli.group()
def lab() -> None:
    """The built-in lab: Drone, a conntrack DUT and sshd in network namespaces (needs root)."""


_prefix_option = click.option("--prefix", default="ostcp", show_default=True,
                              help="Name prefix of the lab's namespaces, links and state directory.")


@lab.command("up")
@_prefix_option
@click.option("--mgmt-net", default="198.18.0.0/24", show_default=True,
              help="IPv4 /28 or larger for the management links (a /30 per namespace).")
@click.option("--two-drones", is_flag=True, help="Put port B on a second Drone in its own namespace.")
@click.option("--tcp-loose", type=click.IntRange(0, 1), default=0, show_default=True,
              help="DUT nf_conntrack_tcp_loose (0: a lone ACK cannot create an entry).")
@click.option("--syn-sent-timeout", type=click.IntRange(1), default=None,
              help="DUT SYN_SENT timeout, seconds [kernel default 120].")
@click.option("--syn-recv-timeout", type=click.IntRange(1), default=None,
              help="DUT SYN_RECV timeout, seconds [kernel default 60].")
@click.option("--conntrack-max", type=click.IntRange(1), default=None,
              help="nf_conntrack_max (global to the host; restored on 'lab down').")
@click.option("--conntrack-buckets", type=click.IntRange(1), default=None,
              help="nf_conntrack_buckets (global to the host; restored on 'lab down').")
@click.option("--nat", default=None, help="Source-NAT on the DUT's B side: 'masquerade' or 'snat:A.B.C.D'.")
@click.option("--sudo-user", is_flag=True, help="Also create a non-root SSH user that uses 'sudo -n'.")
@click.option("--json", "as_json", is_flag=True, help="Print the endpoints as JSON.")
def lab_up(prefix, mgmt_net, two_drones, tcp_loose, syn_sent_timeout, syn_recv_timeout, conntrack_max,
           conntrack_buckets, nat, sudo_user, as_json) -> None:
    """Build the lab with these settings (a running lab is brought to them) and print its endpoints.

    The options describe the whole lab: settings not given return to their defaults.
    """
    from .lab import Lab, LabConfig

    eps = Lab(LabConfig(prefix=prefix, mgmt_net=mgmt_net, two_drones=two_drones, tcp_loose=tcp_loose,
                        syn_sent_timeout=syn_sent_timeout, syn_recv_timeout=syn_recv_timeout,
                        conntrack_max=conntrack_max, conntrack_buckets=conntrack_buckets, nat=nat,
                        sudo_user=sudo_user)).up()
    if as_json:
        _echo_json(eps.to_dict())
        return
    _print_endpoints(eps.to_dict())


def _print_endpoints(e: dict) -> None:
    click.echo(f"lab '{e['prefix']}' is up")
    for key in ("drone_a", "drone_b"):
        d = e[key]
        click.echo(f"  {key.replace('_', ' ')}: {d['host']}:{d['port']} port {d['port_name']} (namespace {d['namespace']})")
    s = e["ssh"]
    click.echo(f"  DUT ssh: {s['user']}@{s['host']}:{s['port']} key {s['key_file']} known_hosts {s['known_hosts']}")
    d = e["dut"]
    click.echo(f"  DUT: {d['namespace']} gateways {d['client_gateway']} (A side), {d['server_gateway']} (B side)"
               + (f", NAT {d['nat']}" if d["nat"] else ""))


@lab.command("down")
@_prefix_option
def lab_down(prefix) -> None:
    """Remove every namespace, link, process and file the lab made."""
    from .lab import Lab

    removed = Lab.from_state(prefix).down()
    if removed:
        for item in removed:
            click.echo(f"removed {item}")
    else:
        click.echo(f"lab '{prefix}' was not up; nothing to remove")


@lab.command("status")
@_prefix_option
@click.option("--json", "as_json", is_flag=True, help="Print status and endpoints as JSON.")
def lab_status(prefix, as_json) -> None:
    """Say whether the lab is up; exit 1 when it is not."""
    from .lab import Lab, check_prerequisites

    check_prerequisites()
    st = Lab.from_state(prefix).status()
    if as_json:
        _echo_json(st)
    else:
        if st["up"]:
            _print_endpoints(st["endpoints"])
        else:
            missing = [ns for ns, ok in st["namespaces"].items() if not ok]
            click.echo(f"lab '{prefix}' is not (fully) up"
                       + (f": missing namespaces {', '.join(missing)}" if missing else "")
                       + ("" if all(st["drone_listening"].values()) else "; Drone not listening")
                       + ("" if st["sshd_listening"] else "; sshd not listening"))
    sys.exit(0 if st["up"] else 1)


# --------------------------------------------------------------------------- scenario commands
_lab_option = click.option("--lab", "lab_prefix", default=None, metavar="PREFIX",
                           help="Take Drone and DUT endpoints from this running built-in lab (overrides the "
                                "scenario's 'lab:').")


_take_over_option = click.option(
    "--take-over-ports", is_flag=True,
    help="Use ports that carry streams or device groups ostinato-tcp did not create, or another run's tag: their "
         "streams are disabled for the run and re-enabled after it; interleaved mode is switched to sequential and "
         "back. Nothing of theirs is deleted.")


def _load(path: str, lab_prefix: str | None):
    from .scenario import load_scenario

    return load_scenario(path, lab=lab_prefix)


def _password(ask: bool) -> str | None:
    if not ask:
        return None
    import getpass

    return getpass.getpass("DUT SSH password: ")


@cli.command("plan")
@click.argument("scenario", type=click.Path(dir_okay=False))
@_lab_option
@click.option("--offline", is_flag=True, help="Do not read the DUT's timeouts and capacity; use kernel defaults.")
@click.option("--force", is_flag=True, help="Exit 0 even when the plan has problems.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--accept-new-host-key", is_flag=True, help="Add an unknown DUT host key to known_hosts.")
@click.option("--ask-dut-password", is_flag=True, help="Prompt for the DUT's SSH password.")
def plan_cmd(scenario, lab_prefix, offline, force, as_json, accept_new_host_key, ask_dut_password) -> None:
    """Show the timing and layout of a run without sending a packet (exit 2 when it cannot work)."""
    from .plan import make_plan
    from .run import RunOptions, connect_dut

    sc = _load(scenario, lab_prefix)
    facts = None
    if not offline:
        opts = RunOptions(accept_new_host_key=accept_new_host_key, dut_password=_password(ask_dut_password))
        dut = connect_dut(sc, opts)
        try:
            facts = dut.health().facts(f"read from the DUT {dut.shell.where}")
        finally:
            dut.shell.close()
    plan = make_plan(sc, facts, force=True)  # to show every problem, not only the first refusal
    plan.forced = force
    if as_json:
        _echo_json({"mode": plan.mode, "rate": plan.rate, "delay": plan.delay, "total": plan.total,
                    "batch_size": plan.space.batch_size, "batches": len(plan.timings),
                    "client_ips": plan.space.ip_count, "ports_per_batch": plan.space.ports_per_batch,
                    "last_client_port": plan.space.last_port(), "expected_seconds": plan.expected_seconds,
                    "dut": {"syn_sent_timeout": plan.dut.syn_sent_timeout,
                            "syn_recv_timeout": plan.dut.syn_recv_timeout, "conntrack_max": plan.dut.conntrack_max,
                            "conntrack_count": plan.dut.conntrack_count, "source": plan.dut.source},
                    "timings": [{"batch": t.batch.index, "first": t.batch.first, "count": t.batch.count,
                                 "build_seconds": t.build_seconds, "send_seconds": t.send_seconds,
                                 "syn_to_synack": t.syn_to_synack, "synack_to_ack": t.synack_to_ack}
                                for t in plan.timings],
                    "warnings": plan.warnings, "problems": plan.problems})
    else:
        for line in plan.describe():
            click.echo(line)
    if plan.problems and not force:
        click.echo("ostinato-tcp: the plan cannot work (see REFUSED above); fix the scenario or use --force",
                   err=True)
        sys.exit(EXIT_USAGE)


@cli.command("run")
@click.argument("scenario", type=click.Path(dir_okay=False))
@_lab_option
@click.option("--force", is_flag=True, help="Run even when the plan says it cannot work (for diagnosis).")
@click.option("--report-json", type=click.Path(dir_okay=False), help="Write the result as JSON to this file.")
@click.option("--junit", type=click.Path(dir_okay=False), help="Write the result as JUnit XML to this file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output; only the summary.")
@click.option("--drone-backend", type=click.Choice(["builtin", "python-ostinato"]), default="builtin",
              show_default=True, help="How to talk to Drone.")
@click.option("--accept-new-host-key", is_flag=True, help="Add an unknown DUT host key to known_hosts.")
@click.option("--ask-dut-password", is_flag=True, help="Prompt for the DUT's SSH password.")
@click.option("--poll-interval", type=float, default=None,
              help="Seconds between polls of the DUT's conntrack count during the run; 0 turns polling off.")
@click.option("--disable-stream", type=click.Choice(["synack", "ack"]), default=None, hidden=True,
              help="Send without this leg (to see the diagnosis of a lost leg).")
@click.option("--history-db", type=click.Path(dir_okay=False), default=None,
              help="SQLite file that records every run [default: in the user's data directory].")
@click.option("--no-history", is_flag=True, help="Do not record this run in the history database.")
@_take_over_option
def run_cmd(scenario, lab_prefix, force, report_json, junit, quiet, drone_backend, accept_new_host_key,
            ask_dut_password, poll_interval, disable_stream, history_db, no_history, take_over_ports) -> None:
    """Establish the scenario's connections through the DUT and prove them in its conntrack table.

    Exit codes: 0 every expected connection ESTABLISHED+ASSURED, 1 the verdict failed,
    2 bad scenario or usage (or the plan cannot work), 3 Drone or DUT unreachable or another fault.
    """
    from ._console import make_events
    from .report import result_to_dict, summary_lines
    from .run import Runner, RunOptions

    sc = _load(scenario, lab_prefix)
    opts = RunOptions(force=force, drone_backend=drone_backend, accept_new_host_key=accept_new_host_key,
                      dut_password=_password(ask_dut_password), poll_interval=poll_interval,
                      disable_stream=disable_stream, take_over_ports=take_over_ports)
    events = make_events(quiet)
    runner = Runner(sc, opts, events)
    try:
        result = runner.run()
    except (OstinatoTcpError, Interrupted) as exc:
        # A fault or a signal after the input was accepted: CI still gets a report saying so.
        # (Bad input, exit 2, writes nothing: nothing happened.)
        if exc.exit_code != EXIT_USAGE:
            runner.result.error = f"stopped by {exc}" if isinstance(exc, Interrupted) else str(exc)
            _write_run_outputs(result_to_dict(runner.result), sc.name, report_json, junit, history_db,
                               history=not no_history)
        raise
    finally:
        close = getattr(events, "close", None)
        if close:
            close()
    data = result_to_dict(result)
    for line in summary_lines(result):
        click.echo(line)
    if result.error:
        click.echo(f"ostinato-tcp: error: {result.error}", err=True)
    _write_run_outputs(data, sc.name, report_json, junit, history_db, history=not no_history)
    sys.exit(result.exit_code)


def _write_run_outputs(data: dict, name: str, report_json, junit, history_db, *, history: bool) -> None:
    """--report-json, --junit and the history record of one run."""
    from .report import write_json

    if report_json:
        write_json(data, report_json)
    if junit:
        from .report.junit import write_junit

        write_junit([data], junit, suite_name=f"ostinato-tcp {name}")
    if history:
        from .history import History

        try:
            with History.open(history_db) as hist:
                hist.record(data)
        except OstinatoTcpError as exc:
            click.echo(f"ostinato-tcp: warning: run not recorded in history: {exc}", err=True)


@cli.command("verify")
@click.argument("scenario", type=click.Path(dir_okay=False))
@_lab_option
@click.option("--dump", "dump_file", type=click.Path(dir_okay=False, exists=True),
              help="Judge a saved 'conntrack -L' output instead of the live DUT (offline).")
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help="Batch size of the run that made the entries (from its JSON report; matters only with "
                   "several client IPs and batches).")
@click.option("--report-json", type=click.Path(dir_okay=False), help="Write the verdict as JSON to this file.")
@click.option("--accept-new-host-key", is_flag=True, help="Add an unknown DUT host key to known_hosts.")
@click.option("--ask-dut-password", is_flag=True, help="Prompt for the DUT's SSH password.")
def verify_cmd(scenario, lab_prefix, dump_file, batch_size, report_json, accept_new_host_key,
               ask_dut_password) -> None:
    """Check the DUT's conntrack table against the scenario now, sending nothing (exit 0 pass, 1 fail)."""
    from .verify import verify_dump_file, verify_live

    sc = _load(scenario, lab_prefix)
    if dump_file:
        out = verify_dump_file(sc, dump_file, batch_size=batch_size)
    else:
        from .run import RunOptions

        out = verify_live(sc, RunOptions(accept_new_host_key=accept_new_host_key,
                                         dut_password=_password(ask_dut_password)), batch_size=batch_size)
    for line in out.lines():
        click.echo(line)
    if report_json:
        from .report import write_json

        write_json(out.to_dict(), report_json)
    sys.exit(0 if out.verdict.passed else 1)


@cli.command("cleanup")
@click.argument("scenario", type=click.Path(dir_okay=False))
@_lab_option
@click.option("--drone-backend", type=click.Choice(["builtin", "python-ostinato"]), default="builtin")
@click.option("--force", is_flag=True, help="Also when a port is tagged by a run that may still be going (another "
                                            "host's, say).")
def cleanup_cmd(scenario, lab_prefix, drone_backend, force) -> None:
    """Remove streams and device groups an interrupted run of SCENARIO left on its Drone ports,
    and the port tag of a run that is gone."""
    from .run import cleanup_leftovers

    sc = _load(scenario, lab_prefix)
    removed = cleanup_leftovers(sc, backend=drone_backend, force=force)
    click.echo("removed " + ", ".join(removed) if removed else "nothing of ostinato-tcp was left on the ports")


@cli.command("history")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="History database [default: $OSTINATO_TCP_HISTORY or the user's data directory].")
@click.option("--scenario", "scenario_name", default=None, help="Only runs of this scenario name.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--compare", "compare_id", default="latest", show_default=True,
              help="Run id to compare with the last passing run of its scenario ('latest', or 'none').")
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 when the compared run got worse.")
@click.option("--json", "as_json", is_flag=True)
def history_cmd(db_path, scenario_name, limit, compare_id, fail_on_regression, as_json) -> None:
    """List recorded runs and flag a run that got worse than the last passing one."""
    from .history import History

    with History.open(db_path) as hist:
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
    if as_json:
        _echo_json({"runs": [{k: r[k] for k in ("id", "started_at", "scenario_name", "verdict", "expected",
                                                 "established_assured", "rate", "achieved_rate_a",
                                                 "achieved_rate_b", "dut_kernel", "drone_version", "origin")}
                             for r in rows],
                    "comparison": None if comparison is None else {
                        "run": comparison.run["id"],
                        "baseline": comparison.baseline["id"] if comparison.baseline else None,
                        "basis": comparison.basis, "run_verdict": comparison.run["verdict"],
                        "regressions": comparison.regressions}})
    else:
        if not rows:
            click.echo("no runs recorded" + (f" for scenario {scenario_name}" if scenario_name else ""))
        else:
            click.echo(f"{'id':>5}  {'started (UTC)':<20}  {'scenario':<24} {'verdict':<7} {'established':>17}  "
                       f"{'rate/s':>9}  {'A sent/s':>10}  {'B sent/s':>10}")
        for r in rows:
            click.echo(f"{r['id']:>5}  {r['started_at']:<20}  {r['scenario_name'][:24]:<24} {r['verdict']:<7} "
                       f"{r['established_assured']:>8}/{r['expected']:<8}  {r['rate'] or 0:>9,.0f}  "
                       f"{r['achieved_rate_a'] or 0:>10,.0f}  {r['achieved_rate_b'] or 0:>10,.0f}")
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
    if fail_on_regression and comparison is not None and (comparison.regressed or comparison.failed):
        sys.exit(1)


@cli.command("sweep")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Directory for the points, results.csv, results.json, junit.xml and the plots.")
@_lab_option
@click.option("--restart", is_flag=True, help="Run every point again, also those already in --out.")
@click.option("-q", "--quiet", is_flag=True, help="Plain lines, no progress bar.")
@click.option("--drone-backend", type=click.Choice(["builtin", "python-ostinato"]), default="builtin")
@click.option("--accept-new-host-key", is_flag=True, help="Add an unknown DUT host key to known_hosts.")
@click.option("--ask-dut-password", is_flag=True, help="Prompt for the DUT's SSH password.")
@click.option("--history-db", type=click.Path(dir_okay=False), default=None, help="History database.")
@click.option("--no-history", is_flag=True, help="Do not record the points in the history database.")
@_take_over_option
def sweep_cmd(sweep_file, out_dir, lab_prefix, restart, quiet, drone_backend, accept_new_host_key,
              ask_dut_password, history_db, no_history, take_over_ports) -> None:
    """Run a base scenario over counts x rates (x delays); write CSV, JSON, JUnit XML and plots.

    Exit codes: 0 every grid point passed, 1 a grid point failed its verdict, 2 bad sweep file,
    3 a point could not run (Drone or DUT fault). Points already in --out are not run again.
    """
    from ._console import sweep_events
    from .run import RunOptions
    from .sweep import load_sweep, run_sweep

    sweep = load_sweep(sweep_file, lab=lab_prefix)
    opts = RunOptions(drone_backend=drone_backend, accept_new_host_key=accept_new_host_key,
                      dut_password=_password(ask_dut_password), poll_interval=0 if quiet else None,
                      take_over_ports=take_over_ports)
    events = sweep_events(quiet)
    hist = None
    if not no_history:
        from .history import History

        hist = History.open(history_db)
    try:
        summary = run_sweep(sweep, out_dir, opts=opts, events=events, restart=restart, history=hist)
    finally:
        events.close()
        if hist is not None:
            hist.conn.close()
    click.echo(f"sweep {summary['sweep']}: {summary['grid_passed']}/{summary['grid_points']} grid points passed"
               + (f", {summary['errors']} error(s)" if summary["errors"] else "") + f"; results in {out_dir}")
    for count, m in summary["maximum_connection_establishment_rate"].items():
        best, above = m["connections_per_second"], m["first_failing_above"]
        click.echo(f"  {int(count):>9,} connections: maximum connection establishment rate "
                   + (f"{best:,.0f}/s" if best is not None else "none passed")
                   + (f" (fails at {above:,.0f}/s)" if above else " (no failing rate tried above it)"))
    cap = summary["connection_tracking_table_capacity"]
    click.echo(f"  connection tracking table capacity: largest count fully established "
               f"{cap['largest_count_fully_established'] or 0:,} (DUT nf_conntrack_max "
               f"{cap['dut_nf_conntrack_max'] or '?'})")
    if summary["errors"]:
        sys.exit(3)
    sys.exit(1 if summary["grid_failed"] else 0)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="ostinato-tcp", standalone_mode=True)
    except OstinatoTcpError as exc:  # raised outside a command (should not happen)
        click.echo(f"ostinato-tcp: error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", EXIT_USAGE))


if __name__ == "__main__":
    main()
