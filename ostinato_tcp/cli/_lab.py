"""``ostinato-tcp lab``: the built-in lab."""

from __future__ import annotations

import sys

import click

from ostinato_tcp.errors import EXIT_INFRA, EXIT_OK
from ostinato_tcp.cli._base import cli, emit_json, output_options


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
@click.option("--timestamps/--no-timestamps", default=True, show_default=True,
              help="DUT nf_conntrack_timestamp: entries carry their start time, so a run proves each entry is its "
                   "own by its age.")
@click.option("--syn-sent-timeout", type=click.IntRange(1), default=None,
              help="DUT SYN_SENT timeout, seconds [kernel default 120].")
@click.option("--syn-recv-timeout", type=click.IntRange(1), default=None,
              help="DUT SYN_RECV timeout, seconds [kernel default 60].")
@click.option("--conntrack-max", type=click.IntRange(1), default=None,
              help="nf_conntrack_max (global to the host; restored on 'lab down').")
@click.option("--conntrack-buckets", type=click.IntRange(1), default=None,
              help="nf_conntrack_buckets (global to the host; restored on 'lab down').")
@click.option("--table", "table", type=click.IntRange(1), default=None, metavar="N",
              help="Size the host's table for runs of N connections: nf_conntrack_max N + 10% + 1,000 (at least "
                   "262,144) and "
                   "nf_conntrack_buckets the power of two the plan's hash-chain forecast asks for (the two options "
                   "above override it; restored on 'lab down').")
@click.option("--nat", default=None, help="Source-NAT on the DUT's B side: 'masquerade' or 'snat:A.B.C.D'.")
@click.option("--sudo-user", is_flag=True, help="Also create a non-root SSH user that uses 'sudo -n'.")
@click.option("--jump-host", is_flag=True,
              help="Add an SSH bastion namespace; the DUT's sshd also listens on a link only the bastion reaches.")
@click.option("--dut-netns", is_flag=True,
              help="Forward in a namespace nested in the DUT's (read with 'ip netns exec', as on container hosts).")
@click.option("--pairs", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Port pairs: pair i (from 2) is porta<i>/portb<i> on 10.(2i-1).(2i-1).0/24 and 10.(2i).(2i).0/24.")
@click.option("--drone-per-pair", is_flag=True, help="Each pair from the second on a Drone namespace of its own.")
@click.option("--ipv6", is_flag=True,
              help="IPv6 on the DUT's test links too: fd00:1::1/64 (A), fd00:2::1/64 (B); pair i fd00:<2i-1>::1, "
                   "fd00:<2i>::1.")
@click.option("--dut", "dut", type=click.Choice(["conntrack", "procfs", "ovs", "none"]), default="conntrack", show_default=True,
              help="What the DUT's SSH login offers: conntrack-tools, or only /proc/net/nf_conntrack (procfs: no "
                   "sbin on its PATH; its lab file sets dut.clear and dut.clear_after to none), or a DUT that "
                   "forwards and tracks with Open vSwitch (ovs: a netdev bridge with ct() flows in zone 7, NAT by "
                   "them with --nat; the kernel tracks nothing), or no login at all (none: no sshd; the lab file "
                   "says dut.kind none, and runs are proven by the traffic alone).")
@output_options
def lab_up(prefix, mgmt_net, two_drones, tcp_loose, timestamps, syn_sent_timeout, syn_recv_timeout, conntrack_max,
           conntrack_buckets, table, nat, sudo_user, jump_host, dut_netns, pairs, drone_per_pair, ipv6, dut, json,
           report_json) -> None:
    """Build the lab with these settings (a running lab is brought to them) and print its endpoints.

    The options describe the whole lab: settings not given return to their defaults.
    """
    from ostinato_tcp.lab import Lab, LabConfig, table_settings

    if table is not None:
        sized = table_settings(table)
        conntrack_max = conntrack_max or sized["conntrack_max"]
        conntrack_buckets = conntrack_buckets or sized["conntrack_buckets"]
    eps = Lab(LabConfig(prefix=prefix, mgmt_net=mgmt_net, two_drones=two_drones, tcp_loose=tcp_loose,
                        timestamps=timestamps,
                        syn_sent_timeout=syn_sent_timeout, syn_recv_timeout=syn_recv_timeout,
                        conntrack_max=conntrack_max, conntrack_buckets=conntrack_buckets, nat=nat,
                        sudo_user=sudo_user, jump_host=jump_host, dut_netns=dut_netns, pairs=pairs,
                        drone_per_pair=drone_per_pair, ipv6=ipv6, dut=dut)).up()
    emit_json(eps.to_dict(), kind="lab", as_json=json, report_json=report_json)
    if not (json or report_json == "-"):
        _print_endpoints(eps.to_dict())


def _print_endpoints(e: dict) -> None:
    click.echo(f"lab '{e['prefix']}' is up")
    for key in ("drone_a", "drone_b"):
        d = e[key]
        click.echo(f"  {key.replace('_', ' ')}: {d['host']}:{d['port']} port {d['port_name']} (namespace {d['namespace']})")
    for p in e.get("pairs", [])[1:]:
        click.echo(f"  pair {p['pair']}: Drone {p['drone']['host']}:{p['drone']['port']} ports {p['port_a']}/{p['port_b']} "
                   f"(namespace {p['drone']['namespace']}), gateways {p['client_gateway']}, {p['server_gateway']}")
    s = e["ssh"]
    if e["dut"].get("kind") == "none":
        click.echo("  DUT ssh: none (--dut none: no login; runs are proven by the traffic alone)")
    else:
        click.echo(f"  DUT ssh: {s['user']}@{s['host']}:{s['port']} key {s['key_file']} known_hosts "
                   f"{s['known_hosts']}")
    if s.get("jump"):
        j = s["jump"]
        click.echo(f"  jump host: {j['user']}@{j['host']}:{j['port']}; through it the DUT's sshd is also at "
                   f"{j['dut_host']}")
    d = e["dut"]
    click.echo(f"  DUT: {d['namespace']} gateways {d['client_gateway']} (A side), {d['server_gateway']} (B side)"
               + (f"; IPv6 {d['client_gateway6']}, {d['server_gateway6']}" if d.get("ipv6") else "")
               + (f", NAT {d['nat']}" if d["nat"] else "")
               + (f"; forwards in netns {d['netns']} (dut.netns)" if d.get("netns") else "")
               + ("; its SSH login has no conntrack-tools: read through /proc (procfs, read only)"
                  if d.get("kind") == "procfs" else "")
               + (f"; Open vSwitch forwards and tracks (zone {d['ovs']['zone']}, ovs-appctl -t {d['ovs']['target']})"
                  if d.get("ovs") else ""))
    if e.get("lab_file"):
        click.echo(f"  lab file: {e['lab_file']}")


@lab.command("down")
@_prefix_option
def lab_down(prefix) -> None:
    """Remove every namespace, link, process and file the lab made."""
    from ostinato_tcp.lab import Lab

    removed = Lab.from_state(prefix).down()
    if removed:
        for item in removed:
            click.echo(f"removed {item}")
    else:
        click.echo(f"lab '{prefix}' was not up; nothing to remove")


@lab.command("status")
@_prefix_option
@output_options
def lab_status(prefix, json, report_json) -> None:
    """Say whether the lab is up; exit 3 when it is not (like any unreachable part of a lab)."""
    from ostinato_tcp.lab import Lab, check_prerequisites

    check_prerequisites()
    st = Lab.from_state(prefix).status()
    emit_json(st, kind="lab-status", as_json=json, report_json=report_json)
    if not (json or report_json == "-"):
        if st["up"]:
            _print_endpoints(st["endpoints"])
        else:
            missing = [ns for ns, ok in st["namespaces"].items() if not ok]
            click.echo(f"lab '{prefix}' is not (fully) up"
                       + (f": missing namespaces {', '.join(missing)}" if missing else "")
                       + ("" if all(st["drone_listening"].values()) else "; Drone not listening")
                       + ("" if st["sshd_listening"] is not False else "; sshd not listening"))
    sys.exit(EXIT_OK if st["up"] else EXIT_INFRA)
