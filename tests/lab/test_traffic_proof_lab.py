"""The traffic proof on the lab's DUT (``expect.proof: [table, traffic]``): every connection
carries a data segment each way, proven from Drone's captures on both ports; a DUT that
tracks the handshakes but drops or rewrites what follows fails with each kind counted."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .conftest import dut_nft_table

PROOF = {"expect.proof": ["table", "traffic"]}


def dut_rules(lab, rules: str):
    """An nftables table of the test's own on the DUT, ahead of the lab's forward chain; removed after."""
    return dut_nft_table(lab, "inet", "otcp_test", "early {\n  type filter hook forward priority -10; policy accept;",
                         rules)


def test_every_connection_carries_a_segment_each_way_and_the_fin_close_counts_its_bytes(ot, scenario_file):
    sc = scenario_file("lab-1000.yaml", name="carry", **PROOF,
                       **{"connections.count": 2000, "traffic.rate": 2000, "traffic.teardown": "fin"})
    rc, out, err, rep = ot("run", str(sc))
    assert rc == 0, out + err
    assert "PASS  2000/2000 ESTABLISHED+ASSURED, 2000/2000 carried both ways  (carry)" in out
    tp = rep["traffic_proof"]
    assert (tp["carried_both_ways"], tp["a_to_b"], tp["b_to_a"], tp["sent_by_a"], tp["sent_by_b"]) == (2000,) * 5
    assert tp["mistranslated"] == {} and tp["unknown_segments"] == 0 and tp["segment_bytes"] == 8
    assert rep["proof"] == {"asked": ["table", "traffic"], "table": True, "traffic": True}
    # the close comes after the data: its FINs count the 8 bytes each side sent, and every one closed
    assert rep["teardown"]["closed"] == 2000 and rep["teardown"]["passed"]
    assert "timings" in rep and rep["timings"]["carry"] > 0


def test_a_dut_that_tracks_but_drops_or_rewrites_data_fails_with_each_kind_counted(ot, lab, scenario_file, tmp_path):
    # 1,000 connections from client ports 23420..24419; the DUT's extra rules act on the data segments
    # (PSH) of port ranges: 300 lose theirs towards the server, 100 towards the client, 50 both ways,
    # 30 get their source port rewritten towards the client
    rules = """
        tcp dport 8080 tcp sport 23420-23719 tcp flags & psh == psh drop
        tcp sport 8080 tcp dport 23720-23819 tcp flags & psh == psh drop
        tcp dport 8080 tcp sport 23820-23869 tcp flags & psh == psh drop
        tcp sport 8080 tcp dport 23820-23869 tcp flags & psh == psh drop
        tcp sport 8080 tcp dport 23870-23899 tcp flags & psh == psh tcp sport set 8081
    """
    sc = scenario_file("lab-1000.yaml", name="carry-bad", **PROOF, **{"traffic.rate": 1000})
    with dut_rules(lab, rules):
        rc, out, err, rep = ot("run", str(sc), "--junit", str(tmp_path / "junit.xml"))
    assert rc == 1, out + err
    assert "FAIL  1000/1000 ESTABLISHED+ASSURED, 520/1000 carried both ways" in out
    tp = rep["traffic_proof"]
    assert (tp["a_to_b_only"], tp["b_to_a_only"], tp["neither"]) == (100 + 30, 300, 50)
    assert tp["mistranslated"] == {"source port": 30} and tp["changed"] == {"a_to_b": 0, "b_to_a": 30}
    assert tp["unsent"] == 0 and rep["proof"]["table"] is True and rep["proof"]["traffic"] is False
    diag = "\n".join(rep["diagnosis"])
    assert "50 connection(s) that passed the table proof carried nothing" in diag
    assert "100 connection(s) forwarded one way only, towards the server" in diag
    assert "300 connection(s) forwarded one way only, towards the client" in diag
    assert "segments arrived changed (source port 30): mistranslated" in diag and "source port expected 8080" in diag
    assert rep["outcome"]["outcome"] == "fail"
    case = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite/testcase")
    assert "520/1000 carried both ways" in case.find("failure").get("message")
    props = {p.get("name"): p.get("value") for p in case.find("properties")}
    assert (props["traffic_proof_carried_both_ways"], props["traffic_proof_a_to_b"]) == ("520", "650")
