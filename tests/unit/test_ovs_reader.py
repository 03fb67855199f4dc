"""Open vSwitch's userspace conntrack listing (``dpctl/dump-conntrack -m``, 3.1.0) read into the
verdict's entries, against output captured from a real ovs-vswitchd on the netdev datapath."""

from __future__ import annotations

from pathlib import Path

from ostinato_tcp.domain.tuples import ConnectionSpace
from ostinato_tcp.domain.verdict import MISSING, OTHER_STATE, PASS, Expected, Judge
from ostinato_tcp.dut.ovs_reader import OvsEntryReader, peer_states

OVS = Path(__file__).resolve().parents[1] / "fixtures" / "ovs"


def read(name: str, *, chunk: int = 37, **kw):
    got = []
    reader = OvsEntryReader(got.extend, **kw)
    data = (OVS / name).read_bytes()
    for i in range(0, len(data), chunk):  # lines split across chunks, as an SSH stream delivers them
        reader.feed(data[i:i + chunk])
    return {int(g[3]): g for g in got}, reader.finish()


def test_both_peers_established_is_the_only_assured_entry():
    entries, stats = read("dump-conntrack-m-3.1.0.txt")
    assert stats.unknown == 0 and stats.entries == len(entries) == 8  # the UDP flow is left out
    for port in (43000, 43001, 43002):
        assert entries[port][0] == b"ESTABLISHED" and entries[port][10] is not None
    # the final ACK never crossed the box (state_reply=SYN_SENT): not established, whatever
    # the merged listing says
    assert entries[42001][0] == b"SYN_RECV" and entries[42001][10] is None
    assert entries[41001][0] == b"FIN_WAIT"


def test_the_merged_state_of_the_listing_without_m_is_never_judged():
    plain = (OVS / "dump-conntrack-3.1.0.txt").read_text()
    # the same half-made connection as above reads ESTABLISHED in the merged listing
    line = next(x for x in plain.splitlines() if "sport=42001,dport=8083" in x)
    assert line.endswith("protoinfo=(state=ESTABLISHED)")
    entries, stats = read("dump-conntrack-3.1.0.txt")
    tcp_lines = sum(x.startswith("tcp,") for x in plain.splitlines())
    assert entries == {} and tcp_lines == 8 and stats.unknown == tcp_lines


def test_unanswered_syn_and_closed_connections():
    entries, stats = read("dump-conntrack-m-closing-3.1.0.txt")
    assert stats.unknown == 0 and len(entries) == 10
    assert entries[42000][0] == b"SYN_SENT" and entries[42000][5] == b"[UNREPLIED]"
    assert {entries[p][0] for p in (40000, 40001, 40002, 40003, 40004, 41000)} == {b"TIME_WAIT"}
    # nat(src=10.77.0.99): the reply goes to the translated address
    assert entries[41002][7] == b"10.77.0.99" and entries[41002][1] == b"10.77.0.10"


def test_zone_and_family_filters():
    assert len(read("dump-conntrack-m-3.1.0.txt", zone=7)[0]) == 8
    assert read("dump-conntrack-m-3.1.0.txt", zone=0)[0] == {}
    assert read("dump-conntrack-m-3.1.0.txt", family=6)[0] == {}


def test_peer_state_table():
    assert peer_states(b"ESTABLISHED", b"ESTABLISHED") == (b"ESTABLISHED", None, b"[x]")
    assert peer_states(b"ESTABLISHED", b"SYN_SENT") == (b"SYN_RECV", None, None)
    assert peer_states(b"SYN_SENT", b"CLOSED") == (b"SYN_SENT", b"[UNREPLIED]", None)
    assert peer_states(b"TIME_WAIT", b"TIME_WAIT")[0] == b"TIME_WAIT"
    assert peer_states(b"FIN_WAIT_2", b"ESTABLISHED")[0] == b"FIN_WAIT"
    assert peer_states(b"ESTABLISHED", b"CLOSED") == (b"ESTABLISHED/CLOSED", None, None)  # never a pass


def test_lines_with_flags_in_status_are_not_judged():
    # the kernel datapath's -m lines carry the kernel's status flags; this reader does not read them
    line = ((OVS / "dump-conntrack-m-3.1.0.txt").read_text().splitlines()[2]
            .replace("status=0,", "status=SEEN_REPLY|ASSURED|CONFIRMED,"))
    got = []
    reader = OvsEntryReader(got.extend)
    reader.feed(line.encode() + b"\n")
    stats = reader.finish()
    assert got == [] and stats.unknown == 1


def test_the_verdict_judges_ovs_entries_like_any_driver_s():
    # client 10.77.0.10, ports 42000..43001 towards 10.77.0.20:8080 (the captured ones to 8080
    # are 43000 and 43001, and 40000..40004 closed): two pass, five are in TIME_WAIT, the rest missing
    sp = ConnectionSpace.layout(client_ip="10.77.0.10", client_ips=1, first_port=40000, step=1,
                                server_ip="10.77.0.20", server_port=8080, total=3002, batch_size=3002)
    judge = Judge(Expected(sp))
    reader = OvsEntryReader(judge.take)
    reader.feed((OVS / "dump-conntrack-m-3.1.0.txt").read_bytes())
    v = judge.finish(reader.finish())
    assert v.codes[3000] == PASS and v.codes[3001] == PASS and v.established_assured == 2
    assert v.codes[2000] == MISSING  # 42000 went to 8082, another server port: not this space's
    judge = Judge(Expected(sp))
    reader = OvsEntryReader(judge.take)
    reader.feed((OVS / "dump-conntrack-m-closing-3.1.0.txt").read_bytes())
    v = judge.finish(reader.finish())
    assert v.established_assured == 0 and all(v.codes[n] == OTHER_STATE for n in range(5))  # TIME_WAIT
