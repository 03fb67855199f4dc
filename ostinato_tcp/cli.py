"""The ``ostinato-tcp`` command line: the only place that prints and picks exit codes."""

from __future__ import annotations

import json
import logging
import sys

import click

from .errors import EXIT_USAGE, OstinatoTcpError

log = logging.getLogger("ostinato_tcp")


def _echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


class _Group(click.Group):
    """Turns the project's errors into one line on stderr and their exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OstinatoTcpError as exc:
            click.echo(f"ostinato-tcp: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("ostinato-tcp: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="ostinato-tcp")
def cli(verbose: int) -> None:
    """Establish N fake TCP connections through a DUT with Ostinato's Drone and prove them in conntrack."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


# --------------------------------------------------------------------------- lab
@cli.group()
def lab() -> None:
    """The built-in lab: Drone, a conntrack DUT and sshd in network namespaces (needs root)."""


_prefix_option = click.option("--prefix", default="ostcp", show_default=True,
                              help="Name prefix of the lab's namespaces, links and state directory.")


@lab.command("up")
@_prefix_option
@click.option("--mgmt-net", default=None, help="IPv4 /24 (or larger) for the management links "
              "[default: 198.18.0.0/24, or the running lab's].")
@click.option("--two-drones", is_flag=True, default=None, help="Put port B on a second Drone in its own namespace.")
@click.option("--tcp-loose", type=click.IntRange(0, 1), default=None, help="DUT nf_conntrack_tcp_loose [lab default: 0].")
@click.option("--syn-sent-timeout", type=click.IntRange(1), default=None, help="DUT SYN_SENT timeout, seconds.")
@click.option("--syn-recv-timeout", type=click.IntRange(1), default=None, help="DUT SYN_RECV timeout, seconds.")
@click.option("--conntrack-max", type=click.IntRange(1), default=None,
              help="nf_conntrack_max (global to the host; restored on 'lab down').")
@click.option("--conntrack-buckets", type=click.IntRange(1), default=None,
              help="nf_conntrack_buckets (global to the host; restored on 'lab down').")
@click.option("--nat", default=None, help="Source-NAT on the DUT's B side: 'masquerade' or 'snat:A.B.C.D'; 'none' to remove.")
@click.option("--sudo-user", is_flag=True, default=None, help="Also create a non-root SSH user that uses 'sudo -n'.")
@click.option("--json", "as_json", is_flag=True, help="Print the endpoints as JSON.")
def lab_up(prefix, mgmt_net, two_drones, tcp_loose, syn_sent_timeout, syn_recv_timeout, conntrack_max,
           conntrack_buckets, nat, sudo_user, as_json) -> None:
    """Build the lab (or bring a running one to these settings) and print its endpoints."""
    from dataclasses import replace

    from .lab import Lab

    current = Lab.from_state(prefix).config
    changes = {k: v for k, v in dict(mgmt_net=mgmt_net, two_drones=two_drones, tcp_loose=tcp_loose,
                                     syn_sent_timeout=syn_sent_timeout, syn_recv_timeout=syn_recv_timeout,
                                     conntrack_max=conntrack_max, conntrack_buckets=conntrack_buckets,
                                     sudo_user=sudo_user).items() if v is not None}
    if nat is not None:
        changes["nat"] = None if nat == "none" else nat
    eps = Lab(replace(current, **changes)).up()
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


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="ostinato-tcp", standalone_mode=True)
    except OstinatoTcpError as exc:  # raised outside a command (should not happen)
        click.echo(f"ostinato-tcp: error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", EXIT_USAGE))


if __name__ == "__main__":
    main()
