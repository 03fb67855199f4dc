"""IPv6 end to end on the lab: emulated IPv6 devices resolve the DUT's gateways by neighbour
discovery, Drone sends Ip6 + TCP, the DUT tracks the connections in its IPv6 table, and a
lost leg is diagnosed as it is for IPv4."""

from __future__ import annotations

import subprocess

from .conftest import SCENARIOS


def v6_entries(lab, server="fd00:2::100", port=8080) -> list[str]:
    out = subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "conntrack", "-L", "-f", "ipv6", "-p", "tcp",
                          "--orig-dst", server, "--orig-port-dst", str(port)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_ipv6_connections_all_established_and_assured(ot, lab, relab):
    sc = str(SCENARIOS / "lab-ipv6.yaml")
    # a lab without IPv6 on its links refuses an IPv6 scenario, naming the fix
    rc, out, err, _ = ot("run", sc)
    assert rc == 2 and "no IPv6 on its test links; run 'ostinato-tcp lab up --ipv6" in err, out + err
    relab(ipv6=True)
    rc, out, err, rep = ot("run", "--keep-entries", sc)
    try:
        assert rc == 0, out + err
        assert out.startswith("PASS  5000/5000 ESTABLISHED+ASSURED  (lab-ipv6)"), out
        assert rep["ports"]["a"]["sent_packets"] == 10000 and rep["ports"]["b"]["sent_packets"] == 5000
        assert rep["ports"]["a"]["frames_exact"] and rep["ports"]["a"]["other_frames"] >= 1  # NDP, told apart
        assert rep["drone_build"][0]["form"] == "resolve"
        lines = v6_entries(lab)
        assert len(lines) == 5000
        assert all("ESTABLISHED src=fd00:1::100 dst=fd00:2::100" in x and "[ASSURED]" in x for x in lines)
        assert len({x.split(" sport=")[1].split()[0] for x in lines}) == 5000
        rc, out, err, _ = ot("verify", sc)
        assert rc == 0 and out.startswith("PASS  5000/5000"), out + err
    finally:
        subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "conntrack", "-D", "-f", "ipv6", "-p", "tcp",
                        "--orig-dst", "fd00:2::100"], capture_output=True)
    # the traffic proof over IPv6: a data segment each way, Ip6 payload length and checksums Drone's
    rc, out, err, rep = ot("run", sc, "--set", "connections.count=1000", "--set", "traffic.rate=1000",
                           "--set", "expect.proof=[table, traffic]")
    assert rc == 0 and out.startswith("PASS  1000/1000 ESTABLISHED+ASSURED, 1000/1000 carried both ways"), out + err
    assert rep["traffic_proof"]["b_to_a"] == rep["traffic_proof"]["a_to_b"] == 1000


def test_an_ipv6_lost_syn_ack_leg_is_diagnosed(ot, lab, relab):
    sc = str(SCENARIOS / "lab-ipv6.yaml")
    relab(ipv6=True)
    rc, out, err, rep = ot("run", "--disable-stream", "synack", "--keep-entries", sc, "--set", "connections.count=1000",
                           "--set", "traffic.rate=1000")
    try:
        assert rc == 4, out + err  # Drone sent no SYN-ACK: the traffic, not the DUT
        assert out.startswith("INCONCLUSIVE  0/1000"), out
        assert rep["categories"]["syn_sent_unreplied"] == 1000
        assert "e.g. [fd00:1::100]:30000" in out and "the SYN-ACK never reached the DUT" in out
        assert len([x for x in v6_entries(lab) if "SYN_SENT" in x and "[UNREPLIED]" in x]) == 1000
    finally:
        subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "conntrack", "-D", "-f", "ipv6", "-p", "tcp",
                        "--orig-dst", "fd00:2::100"], capture_output=True)
