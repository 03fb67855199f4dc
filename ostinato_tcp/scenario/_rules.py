"""The checks across a one-pair scenario's fields (each names the field to blame)."""

from __future__ import annotations

import ipaddress

from ostinato_tcp.scenario._base import IPV6_MIN_FRAME, CrossFieldError


def check_one_pair(sc) -> None:
    """Drones and ports named consistently, devices on their addresses' subnets, one address
    family, and the combinations the tool does not support refused."""
    if len(sc.drones) > 2:
        raise CrossFieldError(("drones",), f"list one or two Drones for one port pair (got {len(sc.drones)})")
    for side in ("a", "b"):
        if getattr(sc.ports, side).drone not in sc.drones:
            raise CrossFieldError(("ports", side, "drone"),
                              f"names Drone {getattr(sc.ports, side).drone!r}, which is not under 'drones' "
                              f"({', '.join(sc.drones)})")
    pa, pb = sc.ports.a, sc.ports.b
    if pa.drone == pb.drone and pa.ref == pb.ref:
        raise CrossFieldError(("ports", "b", pb.ref_field),
                              "port B must differ from port A")
    c = sc.connections
    if pa.device.ip is not None and pa.device.ip != c.client_ip:
        raise CrossFieldError(("ports", "a", "device", "ip"),
                          f"{pa.device.ip} differs from connections.client_ip {c.client_ip}: Drone takes each "
                          "packet's MAC from the device whose IP is its source; leave 'ip' out")
    if pb.device.ip is not None and pb.device.ip != c.server_ip:
        raise CrossFieldError(("ports", "b", "device", "ip"),
                          f"{pb.device.ip} differs from connections.server_ip {c.server_ip}; leave 'ip' out")
    for side, ip in (("a", c.client_ip), ("b", c.server_ip)):
        dev = getattr(sc.ports, side).device
        if dev.gateway.version != ip.version:
            raise CrossFieldError(("ports", side, "device", "gateway"),
                                  f"{dev.gateway} is IPv{dev.gateway.version} but the run's addresses are "
                                  f"IPv{ip.version}")
        net = ipaddress.ip_network(f"{dev.gateway}/{dev.prefix}", strict=False)
        if ip not in net:
            raise CrossFieldError(("ports", side, "device", "gateway"),
                              f"{dev.gateway}/{dev.prefix} is not on the subnet of {ip}")
    servers = c.server_ip_list()
    if c.server_ips > 1:
        dev = pb.device
        net = ipaddress.ip_network(f"{dev.gateway}/{dev.prefix}", strict=False)
        outside = [ip for ip in servers if ip not in net or ip in (net.network_address, net.broadcast_address)]
        if outside:
            raise CrossFieldError(("connections", "server_ips"),
                                  f"{c.server_ips} addresses from {c.server_ip} (every {c.server_ip_step}) reach "
                                  f"{outside[0]}, not a host address of port B's subnet {net}")
        if dev.gateway in servers:
            raise CrossFieldError(("connections", "server_ips"),
                                  f"the server addresses include port B's gateway {dev.gateway}")
    if c.client_ip in servers:
        raise CrossFieldError(("connections", "server_ip"), "must differ from client_ip")
    if c.server_ips == 1 and c.server_ip == pb.device.gateway:
        raise CrossFieldError(("connections", "server_ip"), f"{c.server_ip} is port B's gateway (the DUT's own "
                              "address on that link): the server must be another host address of its subnet")
    if c.family == 6:
        if sc.nat.mode != "none":
            raise CrossFieldError(("nat", "mode"), f"{sc.nat.mode} is IPv4 only (NAT66/NPTv6 are not "
                                  "supported); use none with IPv6 addresses")
        if sc.traffic.drone_build == "fast":
            raise CrossFieldError(("traffic", "drone_build"), "fast is IPv4 only; with IPv6 addresses Drone "
                                  "resolves (auto or resolve)")
        if sc.traffic.frame_length < IPV6_MIN_FRAME:
            raise CrossFieldError(("traffic", "frame_length"), f"{sc.traffic.frame_length} is too short for "
                                  f"IPv6 + TCP: at least {IPV6_MIN_FRAME}")
    if c.server_endpoints > 1 and sc.nat.mode == "learn":
        raise CrossFieldError(("nat", "mode"), f"learn with {c.server_endpoints} server endpoints is not "
                              "supported (the SYN-ACKs are regrouped by translation); use one server endpoint or "
                              "preserve-ports")
    if sc.traffic.teardown == "fin" and sc.nat.mode == "learn":
        raise CrossFieldError(("traffic", "teardown"), "fin with nat.mode learn is not supported (the FIN-ACKs "
                              "would need the learnt translations); use rst")
    if sc.traffic.keepalive is not None and not sc.expect.hold:
        raise CrossFieldError(("traffic", "keepalive"), f"{sc.traffic.keepalive:g} s needs expect.hold (the "
                              "keep-alive ACKs are sent while the connections are held)")


def check_dut_access(sc) -> None:
    """What the DUT's driver can prove: ``dut.kind: none`` reads no table, so the traffic proof
    alone is the verdict, and what needs the table (NAT learning, a hold's re-check, the
    tear-down's states) is refused; every other kind reads the table, and the traffic proof
    takes each connection's translation from it."""
    proof = list(sc.expect.proof)
    if sc.dut.kind == "none":
        if proof != ["traffic"]:
            raise CrossFieldError(("expect", "proof"), f"{proof}: dut.kind none reads no table; the proof is the "
                                  "traffic alone: [traffic] (the default with dut.kind none)")
        if sc.nat.mode == "learn":
            raise CrossFieldError(("nat", "mode"), "learn reads each translation from the DUT's table, and dut.kind "
                                  "none reads none: use preserve-ports with nat.address, or a DUT kind that reads it")
        if sc.expect.hold:
            raise CrossFieldError(("expect", "hold"), f"{sc.expect.hold:g} s: the hold re-checks the DUT's table, and "
                                  "dut.kind none reads none")
        if sc.traffic.teardown != "none":
            raise CrossFieldError(("traffic", "teardown"), f"{sc.traffic.teardown}: the tear-down is proven from the "
                                  "DUT's table, and dut.kind none reads none")
        if isinstance(sc.ports, list):
            raise CrossFieldError(("ports",), f"{len(sc.ports)} port pairs with dut.kind none are not supported: the "
                                  "summary of pairs is built on each pair's table verdict; give one pair")
    elif "table" not in proof:
        raise CrossFieldError(("expect", "proof"), f"{proof}: 'traffic' alone is for a DUT the tool cannot read "
                              "(dut.kind: none); the traffic proof names each connection's translation from the "
                              "DUT's table, so give [table, traffic]")
    elif sc.dut.host is None:
        raise CrossFieldError(("dut", "host"), "required field is missing (only dut.kind: none goes without a DUT "
                              "login)")
