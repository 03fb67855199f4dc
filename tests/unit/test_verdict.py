"""Verdict and diagnosis from dumps (canned lines in the shape the lab's conntrack prints)."""

from __future__ import annotations

import ipaddress
from array import array

import pytest

from ostinato_tcp.dut.reader import ConntrackReader
from ostinato_tcp.domain.diagnosis import diagnose
from ostinato_tcp.domain.verdict import Expected, Judge
from ostinato_tcp.dut.reader import judge_text
from ostinato_tcp.domain.tuples import ConnectionSpace


def space(n=10, ips=1, batch=None):
    return ConnectionSpace.layout(client_ip="10.1.1.100", client_ips=ips, first_port=23420, step=1,
                                  server_ip="10.2.2.100", server_port=8080, total=n, batch_size=batch or n)


def line(ip, port, state="ESTABLISHED", flag="[ASSURED]", unreplied=False, rdst=None, rdport=None, ext=False):
    rdst = rdst or ip
    rdport = port if rdport is None else rdport
    u = "[UNREPLIED] " if unreplied else ""
    pre = "ipv4     2 " if ext else ""
    return (f"{pre}tcp      6 431999 {state} src={ip} dst=10.2.2.100 sport={port} dport=8080 {u}src=10.2.2.100 "
            f"dst={rdst} sport=8080 dport={rdport} {flag + ' ' if flag else ''}mark=0 use=1\n")


def all_pass(sp):
    out = []
    for n in range(sp.total):
        ip, port = sp.client_of(n)
        out.append(line(ipaddress.IPv4Address(ip), port))
    return "".join(out)


def test_all_established_assured_passes():
    sp = space(50, ips=3)
    v = judge_text(Expected(sp), all_pass(sp))
    assert v.passed and v.established_assured == 50
    assert v.states == {"ESTABLISHED": 50} and v.counts["missing"] == 0


def test_each_category():
    sp = space(10)
    text = (line("10.1.1.100", 23420)  # pass
            + line("10.1.1.100", 23421, "SYN_SENT", "", unreplied=True)
            + line("10.1.1.100", 23422, "SYN_RECV", "")
            + line("10.1.1.100", 23423, "ESTABLISHED", "")  # no [ASSURED]
            + line("10.1.1.100", 23424, "TIME_WAIT", "")
            + line("10.1.1.100", 23425, rdst="10.9.9.9")  # another reply tuple
            + line("10.1.1.100", 23426, "ESTABLISHED", "[OFFLOAD]")  # offloaded counts as assured
            + line("10.1.1.100", 23999)  # not one of ours but in the test's space
            + line("10.1.1.7", 23427)  # another client entirely: unexpected
            + "udp      17 29 src=10.1.1.50 dst=10.2.2.50 sport=5353 dport=53 [UNREPLIED] src=10.2.2.50 dst=10.1.1.50 "
              "sport=53 dport=5353 mark=0 use=1\n"
            + "conntrack v1.4.7 (conntrack-tools): 10 flow entries have been shown.\n")
    v = judge_text(Expected(sp), text)
    assert not v.passed
    c = v.counts
    assert c["established_assured"] == 2
    assert c["syn_sent_unreplied"] == 1 and c["syn_recv"] == 1 and c["established_not_assured"] == 1
    assert c["other_state"] == 1 and c["reply_mismatch"] == 1 and c["missing"] == 3
    assert v.unexpected == 2
    assert v.other_states == {"TIME_WAIT": 1}
    assert v.connections_in("missing") == [7, 8, 9]


def test_fast_and_full_parser_agree():
    """The same entries in default and in extended shape (with accounting, which only the
    full parser reads) give the same verdict."""
    sp = space(30, ips=2)
    rows = []
    for n in range(30):
        ip, port = sp.client_of(n)
        ip = str(ipaddress.IPv4Address(ip))
        state, flag, unr = [("ESTABLISHED", "[ASSURED]", False), ("SYN_SENT", "", True), ("SYN_RECV", "", False),
                            ("ESTABLISHED", "", False)][n % 4]
        if n % 7 == 6:
            continue  # missing
        rows.append((ip, port, state, flag, unr))
    default = "".join(line(ip, p, s, f, u) for ip, p, s, f, u in rows)
    odd = "".join(line(ip, p, s, f, u, ext=True).replace(f"dport=8080 {'[UNREPLIED] ' if u else ''}src=",
                                                          f"dport=8080 packets=1 bytes=40 {'[UNREPLIED] ' if u else ''}src=")
                  for ip, p, s, f, u in rows)
    v1, v2 = judge_text(Expected(sp), default), judge_text(Expected(sp), odd)
    assert v1.counts == v2.counts and v1.states == v2.states
    assert bytes(v1.codes) == bytes(v2.codes)
    assert v2.parse.unknown == 0


def test_chunks_split_anywhere():
    sp = space(200, ips=3)
    text = all_pass(sp).encode()
    j = ConntrackReader(Judge(Expected(sp)))
    for i in range(0, len(text), 37):  # lines cut at arbitrary places
        j.feed(text[i:i + 37])
    v = j.finish()
    assert v.passed and v.established_assured == 200


def test_ssh_session_is_never_counted():
    sp = space(1)
    ssh = "tcp      6 431999 ESTABLISHED src=10.2.2.100 dst=10.1.1.1 sport=8080 dport=22 src=10.1.1.1 dst=10.2.2.100 " \
          "sport=22 dport=8080 [ASSURED] mark=0 use=1\n"
    exp = Expected(sp, exclude={("10.2.2.100", 8080, "10.1.1.1", 22)})
    v = judge_text(exp, line("10.1.1.100", 23420) + ssh)
    assert v.passed and v.unexpected == 0
    v = judge_text(Expected(sp), line("10.1.1.100", 23420) + ssh)
    assert v.unexpected == 1  # the same entry without the exclusion is in the test's space


def test_nat_reply_tuples():
    sp = space(3)
    nat = "10.2.2.1"
    ok = "".join(line("10.1.1.100", 23420 + i, rdst=nat) for i in range(3))
    assert judge_text(Expected(sp, nat_mode="preserve-ports", nat_address=nat), ok).passed
    bad = judge_text(Expected(sp, nat_mode="preserve-ports", nat_address="10.2.2.2"), ok)
    assert bad.counts["reply_mismatch"] == 3
    assert "expected dst=10.2.2.2 dport=23420" in bad.mismatch_samples[0]
    # learn: any learned translation must match exactly
    exp = Expected(sp, nat_mode="learn")
    exp.learned_ip = array("I", [int(ipaddress.IPv4Address(nat))] * 3)
    exp.learned_port = array("H", [1025, 1026, 1027])
    learned = "".join(line("10.1.1.100", 23420 + i, rdst=nat, rdport=1025 + i) for i in range(3))
    assert judge_text(exp, learned).passed
    assert judge_text(exp, ok).counts["reply_mismatch"] == 3


def test_duplicates_never_hide_a_pass():
    sp = space(1)
    v = judge_text(Expected(sp), line("10.1.1.100", 23420) + line("10.1.1.100", 23420, "SYN_SENT", "", True))
    assert v.passed and v.duplicates == 1


@pytest.mark.parametrize("deltas,words", [({"invalid": 10}, "ACKs reached the DUT before the SYN-ACKs"),
                                           ({"invalid": 0}, "the ACK never arrived")])
def test_syn_recv_diagnosis_uses_the_invalid_counter(deltas, words):
    sp = space(10)
    v = judge_text(Expected(sp), "".join(line("10.1.1.100", 23420 + i, "SYN_RECV", "") for i in range(10)))
    text = " ".join(diagnose(v, Expected(sp), counter_deltas=deltas))
    assert "10 in SYN_RECV" in text and words in text


def test_diagnosis_of_each_failure():
    sp = space(6)
    text = (line("10.1.1.100", 23420, "SYN_SENT", "", unreplied=True)
            + line("10.1.1.100", 23421, "ESTABLISHED", "")
            + line("10.1.1.100", 23422, "CLOSE", ""))
    v = judge_text(Expected(sp), text + "garbage line\n")
    d = "\n".join(diagnose(v, Expected(sp), counter_deltas={"early_drop": 3}, tcp_loose=1))
    assert "3 connection(s) have no conntrack entry (e.g. 10.1.1.100:23423" in d
    assert "table was full or entries were evicted (early_drop +3)" in d
    assert "1 in SYN_SENT [UNREPLIED]" in d and "SYN-ACK never reached the DUT" in d
    assert "1 ESTABLISHED without [ASSURED]" in d and "nf_conntrack_tcp_loose=1" in d
    assert "1 in other states (CLOSE 1)" in d
    assert "1 dump line(s) were not understood" in d


def test_million_entries_memory_is_small():
    sp = ConnectionSpace.layout(client_ip="10.1.1.100", client_ips=16, first_port=1024, step=1,
                                server_ip="10.2.2.100", server_port=8080, total=1_000_000, batch_size=1_000_000)
    j = Judge(Expected(sp))
    assert len(j.codes) == 1_000_000  # one byte per expected connection, not one object


def test_expect_assured_false_accepts_established_alone():
    sp = space(2)
    text = line("10.1.1.100", 23420, "ESTABLISHED", "") + line("10.1.1.100", 23421, "SYN_RECV", "")
    strict = judge_text(Expected(sp), text)
    assert strict.counts["established_not_assured"] == 1 and strict.established_assured == 0
    loose = judge_text(Expected(sp, require_assured=False), text)
    assert loose.established_assured == 1 and loose.counts["syn_recv"] == 1


def _syn_sent_block(n=1000, first=600, last=799, batch=None):
    """n connections in batches of ``batch``; first..last stuck in SYN_SENT [UNREPLIED]."""
    sp = space(n, batch=batch)
    rows = []
    for k in range(n):
        ip, port = sp.client_of(k)
        ip = ipaddress.IPv4Address(ip)
        rows.append(line(ip, port, "SYN_SENT", "", unreplied=True) if first <= k <= last else line(ip, port))
    return sp, judge_text(Expected(sp), "".join(rows))


class _Plan:  # what diagnose reads of a plan: the space, rate, delay and batch count
    def __init__(self, sp, rate, delay, batches=1):
        self.space, self.rate, self.delay, self.timings = sp, rate, delay, [None] * batches


def test_syn_sent_with_two_invalid_each_is_syn_ack_before_syn_with_the_block_and_the_lag():
    from ostinato_tcp.ground.measure import SentOrder

    sp, v = _syn_sent_block(1000, 600, 799, batch=500)
    plan = _Plan(sp, rate=1000.0, delay=0.25, batches=2)
    # Drone's captures of batch 2: SYN-ACKs of batch connections 100..299 left before their SYNs
    order = SentOrder(batch=1, connections=500, timed=500, min_syn_to_synack=-0.35, at_syn_to_synack=100,
                      min_synack_to_ack=0.25, at_synack_to_ack=0, synack_first=[(100, 299, -0.35)])
    text = " ".join(diagnose(v, Expected(sp), counter_deltas={"invalid": 400}, plan=plan, sent_order=[order]))
    assert "200 in SYN_SENT [UNREPLIED]" in text
    assert "their SYN-ACKs reached the DUT before their SYNs: the DUT's invalid counter rose by 400, two per" in text
    assert "Where: #600-#799 (200), batch 2 of 2, SYNs planned 0.100-0.299 s into it." in text
    assert ("the SYN-ACKs of 200 connection(s) left before their SYNs, e.g. #600-#799 by up to 0.350 s: port A fell "
            "behind port B by up to 0.600 s against a planned margin of 0.250 s") in text
    assert "never reached" not in text


def test_syn_sent_with_one_invalid_each_is_a_syn_ack_that_never_came():
    # each ACK found its entry in SYN_SENT (one invalid each); no SYN-ACK came early (that would be two)
    sp, v = _syn_sent_block(1000, 0, 999)
    text = " ".join(diagnose(v, Expected(sp), counter_deltas={"invalid": 1000}, plan=_Plan(sp, 1000.0, 0.5)))
    assert "the SYN-ACK never reached the DUT: the invalid counter rose by 1000, about one per connection" in text
    assert "Where: #0-#999 (1000), batch 1 of 1" in text
    assert "early" not in text


def test_syn_sent_without_invalid_lost_the_ack_too():
    sp, v = _syn_sent_block(1000, 0, 999)
    text = " ".join(diagnose(v, Expected(sp), counter_deltas={"invalid": 0}))
    assert "neither the SYN-ACK nor the ACK reached the DUT (the invalid counter did not move)" in text


def test_syn_sent_without_counters_does_not_guess():
    sp, v = _syn_sent_block(1000, 0, 999)
    text = " ".join(diagnose(v, Expected(sp), counter_deltas={}))
    assert "never reached the DUT, or came before its SYN (the DUT's invalid counter was not read" in text


def test_mixed_evidence_says_so_with_the_counts():
    sp, v = _syn_sent_block(1000, 100, 299)
    text = " ".join(diagnose(v, Expected(sp), counter_deltas={"invalid": 300}))
    assert "the evidence is mixed: the invalid counter rose by 300 for 200 connection(s) in SYN_SENT" in text
    assert "about 100 had their SYN-ACK early, about 100 never got one" in text


def test_order_held_as_sent_points_past_drone():
    from ostinato_tcp.ground.measure import SentOrder

    sp, v = _syn_sent_block(1000, 10, 19)
    order = SentOrder(batch=0, connections=1000, timed=1000, min_syn_to_synack=0.21, at_syn_to_synack=3,
                      min_synack_to_ack=0.24, at_synack_to_ack=9)
    text = " ".join(diagnose(v, Expected(sp), counter_deltas={"invalid": 20}, plan=_Plan(sp, 1000.0, 0.25),
                             sent_order=[order]))
    assert "As sent, the order held (Drone's captures: the smallest margin was 0.210 s of the planned 0.250 s)" in text
