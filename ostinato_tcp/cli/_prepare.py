"""``ostinato-tcp init / ports / check``: getting a real lab ready."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ostinato_tcp.errors import UsageError
from ostinato_tcp.ground.addr import split_host_port
from ostinato_tcp.cli._base import cli, drone_options, emit_json, load, output_options, password, scenario_options, ssh_options

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


@cli.command("init")
@click.argument("directory", type=click.Path(file_okay=False), default=".")
def init_cmd(directory: str) -> None:
    """Write commented templates into DIRECTORY: lab.yaml (Drones, ports, devices, DUT) and
    my-dut-10k.yaml (a test profile that names it). Existing files are never overwritten."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    targets = {"lab.yaml": out / "lab.yaml", "profile.yaml": out / "my-dut-10k.yaml"}
    there = [str(p) for p in targets.values() if p.exists()]
    if there:
        raise UsageError(f"init: {', '.join(there)} exist already; nothing written (choose another directory)")
    for template, path in targets.items():
        path.write_text((TEMPLATES / template).read_text())
        click.echo(f"wrote {path}")
    click.echo(f"next: fill in {targets['lab.yaml']}, then 'ostinato-tcp ports DRONE' for the port names and "
               f"'ostinato-tcp check {targets['profile.yaml']}'")


@cli.command("schema")
@click.argument("kind", required=False)
@click.option("--path", "show_path", is_flag=True, help="Print where the schema file is instead of its text.")
def schema_cmd(kind: str | None, show_path: bool) -> None:
    """The JSON Schema of an output KIND (run, plan, check, verify, capacity, sweep, history, ports,
    lab, lab-status, cleanup); without KIND, the kinds and the schema version. Every JSON output
    names its kind in 'schema' and carries 'schema_version'."""
    from ostinato_tcp.report.contract import KINDS, SCHEMA_VERSION, schema_path

    if kind is None:
        click.echo(f"schema version {SCHEMA_VERSION}; kinds:")
        for k, what in KINDS.items():
            click.echo(f"  {k:<11} {what}")
        return
    if kind not in KINDS:
        raise UsageError(f"KIND: {kind!r} is not a kind of output (one of {', '.join(KINDS)})")
    click.echo(str(schema_path(kind)) if show_path else schema_path(kind).read_text().rstrip())


@cli.command("ports")
@click.argument("drone")
@drone_options
@output_options
def ports_cmd(drone: str, drone_backend, json, report_json) -> None:
    """Every port DRONE[:PORT] lists: id, name, link, owner (user name), streams, device groups,
    transmitting. The name is what a scenario's ports.X.interface takes."""
    from ostinato_tcp.jobs.preflight import list_ports
    from ostinato_tcp.drone import open_drone

    try:
        host, rpc_port = split_host_port(drone, 7878)
    except ValueError as exc:
        raise UsageError(f"DRONE: {exc} (HOST, HOST:PORT or [IPv6]:PORT)") from None
    with open_drone(host, rpc_port, backend=drone_backend) as d:
        rows = list_ports(d)
        data = {"drone": d.endpoint, "version": d.drone_version, "ports": rows}
    emit_json(data, kind="ports", as_json=json, report_json=report_json)
    if not (json or report_json == "-"):
        click.echo(f"Drone {data['drone']} (version {data['version'] or 'unknown'}): {len(rows)} ports")
        click.echo(f"{'id':>3}  {'name':<24} {'link':<7} {'tx':<3} {'streams':>7} {'groups':>6}  user name / description")
        for r in rows:
            who = r["user_name"] or "-"
            click.echo(f"{r['id']:>3}  {r['name']:<24} {r['link']:<7} {'on' if r['transmitting'] else '-':<3} "
                       f"{r['streams']:>7} {r['device_groups']:>6}  {who}"
                       + (f" / {r['description']}" if r["description"] else ""))


@cli.command("check")
@click.argument("scenario", type=click.Path(dir_okay=False))
@scenario_options
@drone_options
@ssh_options
@click.option("--take-over-ports", is_flag=True,
              help="Check the ports as a run with --take-over-ports would take them.")
@output_options
def check_cmd(scenario, lab, lab_file, sets, drone_backend, accept_new_host_key, ask_dut_password, take_over_ports,
              json, report_json) -> None:
    """A preflight that sends no TCP: Drone and its ports, ARP to the DUT's gateways, the DUT's SSH,
    conntrack, forwarding and tracking of forwarded packets, timeouts, table capacity, the plan.

    Exit codes: 0 every check OK or WARN, 2 a check failed that the scenario or the lab must fix,
    3 Drone or the DUT unreachable.
    """
    from ostinato_tcp.jobs.preflight import check
    from ostinato_tcp.run.options import RunOptions

    sc = load(scenario, lab, lab_file, sets)
    report = check(sc, RunOptions(drone_backend=drone_backend, accept_new_host_key=accept_new_host_key,
                                  dut_password=password(ask_dut_password), take_over_ports=take_over_ports))
    emit_json(report.to_dict(), kind="check", as_json=json, report_json=report_json)
    if not (json or report_json == "-"):
        for c in report.checks:
            click.echo(c.line())
        bad = [c for c in report.checks if c.status == "FAIL"]
        click.echo(f"check {sc.name}: " + (f"{len(bad)} check(s) failed" if bad else "ready to run"))
    sys.exit(report.exit_code)
