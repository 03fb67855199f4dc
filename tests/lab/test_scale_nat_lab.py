"""More client IPs than one port range holds, batching inside the DUT's timeouts, NAT."""

from __future__ import annotations

import pytest


def test_several_client_ips_and_port_blocks(ot, scenario_file):
    # 1,536 ports from 64000: 6,000 connections need 4 client IPs (coprime counts 4 x 1,501
    # per batch of 3,000... the plan picks them); two batches use disjoint port blocks.
    sc = scenario_file("lab-1000.yaml", **{"connections.count": 6000, "connections.first_client_port": 64000,
                                           "connections.client_ips": "auto", "traffic.rate": 3000,
                                           "traffic.batches": 3000})
    rc, out, err, _ = ot("plan", str(sc))
    assert rc == 0, out + err
    assert "5 IPs" in out or "4 IPs" in out
    rc, out, err, rep = ot("run", str(sc))
    assert rc == 0, out + err
    assert rep["established_assured"] == 6000
    assert rep["plan"]["batches"] == 2 and rep["plan"]["client_ips"] >= 4


@pytest.mark.exclusive  # 1.25 s gaps against a 2 s SYN_RECV timeout: a port lagging beside another lab breaks it
def test_batching_keeps_gaps_inside_syn_recv_timeout(ot, relab, scenario_file):
    relab(syn_recv_timeout=2)
    sc = scenario_file("lab-batched.yaml", **{"connections.count": 2500, "traffic.rate": 500})
    rc, out, err, rep = ot("run", str(sc))
    assert rc == 0, out + err
    assert rep["plan"]["batches"] == 2 and rep["plan"]["dut_timeouts"]["syn_recv"] == 2
    assert rep["established_assured"] == 2500

    off = scenario_file("lab-batched.yaml", **{"connections.count": 2500, "traffic.rate": 500,
                                               "traffic.batches": "off", "connections.first_client_port": 30000})
    rc, out, err, _ = ot("plan", str(off))
    assert rc == 2 and "SYN-ACK -> ACK gap 2.5 s reaches the DUT's SYN_RECV timeout 2 s" in out
    rc, out, err, rep = ot("run", "--ignore-plan-checks", str(off))
    assert rc == 1, out + err
    assert rep["established_assured"] < 2500
    diag = " ".join(rep["diagnosis"])
    assert "SYN_RECV timeout 2 s" in diag  # the forced plan's reason is part of the diagnosis


def test_nat_both_modes_and_a_wrong_address(ot, relab, scenario_file):
    eps = relab(nat="masquerade")
    assert eps.dut["nat"] == "masquerade"
    for name in ("lab-10000-nat-preserve.yaml", "lab-10000-nat-learn.yaml"):
        # with the traffic proof: each connection's segment towards the server leaves the DUT from the
        # translated address and port its entry holds, and the one towards the client is translated back
        rc, out, err, rep = ot("run", str(scenario_file(name, **{"expect.proof": ["table", "traffic"]})))
        assert rc == 0, out + err
        assert rep["established_assured"] == 10000
        assert rep["traffic_proof"]["carried_both_ways"] == 10000 and rep["traffic_proof"]["mistranslated"] == {}
        # the verifier saw and checked the translated reply tuples
        assert rep["nat_reply_destinations"] == {"10.2.2.1": 10000}
        assert "dst=10.2.2.1" in rep["nat_reply_samples"][0]
        assert "NAT: reply tuples go to 10.2.2.1 (10000)" in out
    wrong = scenario_file("lab-10000-nat-preserve.yaml", **{"nat.address": "192.0.2.77", "connections.count": 2000,
                                                             "connections.first_client_port": 40000})
    rc, out, err, rep = ot("run", str(wrong))
    assert rc == 1, out + err
    assert rep["categories"]["syn_sent_unreplied"] == 2000
    assert any("The DUT translates the clients to 10.2.2.1 (2000 entries), not to nat.address 192.0.2.77" in d
               for d in rep["diagnosis"])
