"""The conntrack parser against output captured from the lab's real conntrack-tools
(tests/fixtures/conntrack/README.md says which lines are synthetic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ostinato_tcp.dut.entries import parse_line, parse_stats_output, parse_text

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "conntrack"


def load(case: str):
    return parse_text((FIX / case / "dump.txt").read_text())


def by_port(entries, sport):
    (e,) = [e for e in entries if e.orig.get("sport") == sport]
    return e


@pytest.mark.parametrize("case", ["default", "extended", "extended-id", "proc"])
def test_every_real_line_parses(case):
    entries, stats = load(case)
    assert stats.unknown == 0
    assert len(entries) == 12
    protos = sorted({e.proto for e in entries})
    assert protos == ["icmp", "icmpv6", "tcp", "udp"]
    families = [e.family for e in entries]
    assert families.count("ipv6") == 3 and families.count("ipv4") == 9


@pytest.mark.parametrize("case", ["default", "extended", "extended-id", "proc"])
def test_tcp_states_and_flags(case):
    entries, _ = load(case)
    est = by_port(entries, 23420)  # a real handshake by ostinato-tcp
    assert (est.state, est.assured, est.unreplied) == ("ESTABLISHED", True, False)
    assert est.orig == {"src": "10.1.1.100", "dst": "10.2.2.100", "sport": 23420, "dport": 8080}
    assert est.reply == {"src": "10.2.2.100", "dst": "10.1.1.100", "sport": 8080, "dport": 23420}
    lost = by_port(entries, 23500)  # the run whose SYN-ACK leg was disabled
    assert (lost.state, lost.assured, lost.unreplied) == ("SYN_SENT", False, True)
    assert lost.timeout <= 120
    assert by_port(entries, 40005).state == "SYN_RECV" and not by_port(entries, 40005).unreplied
    assert by_port(entries, 40000).state == "TIME_WAIT"
    assert by_port(entries, 40001).mark == 6
    assert by_port(entries, 40002).meta.get("zone") == 7
    assert by_port(entries, 40002).state == "CLOSE_WAIT"


def test_extended_and_id_and_proc_specifics():
    ext, _ = load("extended-id")
    assert all(e.l3 in ("ipv4", "ipv6") for e in ext)
    assert all(isinstance(e.id, int) and e.id > 0 for e in ext)
    assert {e.l3num for e in ext} == {2, 10}
    proc, _ = load("proc")
    v6 = by_port(proc, 40003)
    assert v6.orig["src"] == "2001:0db8:0000:0000:0000:0000:0000:0001"  # /proc prints IPv6 uncompressed
    assert v6.meta.get("zone") == 0 and v6.meta["use"] == 2
    default, _ = load("default")
    assert by_port(default, 40003).orig["src"] == "2001:db8::1"


def test_icmp_tuples_keep_their_id_apart_from_the_entry_id():
    entries, _ = load("extended-id")
    (icmp,) = [e for e in entries if e.proto == "icmp"]
    assert icmp.orig == {"src": "10.1.1.52", "dst": "10.2.2.50", "type": 8, "code": 0, "id": 4242}
    assert icmp.reply["type"] == 0 and icmp.reply["id"] == 4242
    assert icmp.unreplied and icmp.state is None
    assert icmp.id != 4242 and icmp.id > 0  # the entry id from -o id
    (v6,) = [e for e in entries if e.proto == "icmpv6"]
    assert v6.orig["type"] == 128 and v6.reply["type"] == 129 and v6.protonum == 58


def test_udp_assured_and_unreplied():
    entries, _ = load("default")
    assert by_port(entries, 5354).assured and not by_port(entries, 5354).unreplied
    assert by_port(entries, 5353).unreplied and not by_port(entries, 5353).assured
    assert by_port(entries, 5353).state is None


def test_accounting_and_timestamps():
    (e,), stats = load("accounting")
    assert stats.unknown == 0
    assert e.orig["packets"] == 2 and e.orig["bytes"] == 80  # SYN + ACK, 40 bytes each: no payload
    assert e.reply["packets"] == 1 and e.reply["bytes"] == 40
    assert e.meta["delta-time"] == 0
    assert e.meta["start"].startswith(("Mon ", "Tue ", "Wed ", "Thu ", "Fri ", "Sat ", "Sun "))
    assert e.assured


def test_synthetic_shapes_and_unknown_lines():
    entries, stats = load("synthetic")
    assert stats.unknown == 1 and stats.samples == ["this is not a conntrack line"]
    assert len(entries) == 7
    assert by_port(entries, 23420).flags == frozenset({"OFFLOAD"})
    assert by_port(entries, 23421).flags == frozenset({"HW_OFFLOAD"})
    assert by_port(entries, 23422).meta["secctx"] == "system_u:object_r:unlabeled_t:s0"
    assert by_port(entries, 23423).labels == ("eth-in", "bulk")
    zoned = by_port(entries, 23424)
    assert zoned.orig["zone-orig"] == 3 and zoned.reply["zone-reply"] == 3 and zoned.meta.get("zone") == 3
    (gre,) = [e for e in entries if e.proto == "gre"]
    assert gre.orig["srckey"] == "0x0" and gre.protonum == 47
    (unk,) = [e for e in entries if e.proto == "unknown"]
    assert unk.protonum == 41 and unk.orig["dst"] == "10.2.2.9" and unk.reply["src"] == "10.2.2.9"


@pytest.mark.parametrize("garbage", ["", "tcp", "tcp 6 abc ESTABLISHED src=1", "ipv4 2 tcp 6 10 SYN_SENT sport=1",
                                     "tcp 6 10 ESTABLISHED src=a dst=b src=c dst=d src=e dst=f",
                                     "tcp 6 10 ESTABLISHED src=a dst=b oops", "\x00\xff" * 20])
def test_garbage_never_crashes(garbage):
    entries, stats = parse_text(garbage)
    assert entries == [] and stats.unknown == (1 if garbage.strip() else 0)


def test_stats_counters_summed_over_cpus():
    text = ("cpu=0   \tfound=0 invalid=3 insert=0 insert_failed=1 drop=0 early_drop=2 error=0 search_restart=0 "
            "clash_resolve=0 chaintoolong=0 \n"
            "cpu=1   \tfound=1 invalid=4 insert=0 insert_failed=0 drop=5 early_drop=0 error=0 search_restart=7 "
            "clash_resolve=0 chaintoolong=0 \n")
    assert parse_stats_output(text) == {"found": 1, "invalid": 7, "insert": 0, "insert_failed": 1, "drop": 5,
                                        "early_drop": 2, "error": 0, "search_restart": 7, "clash_resolve": 0,
                                        "chaintoolong": 0}


def test_parse_line_single():
    e = parse_line("tcp      6 117 SYN_SENT src=10.1.1.100 dst=10.2.2.100 sport=23420 dport=8080 [UNREPLIED] "
                   "src=10.2.2.100 dst=10.1.1.100 sport=8080 dport=23420 mark=0 use=1")
    assert e.state == "SYN_SENT" and e.unreplied and e.timeout == 117 and e.protonum == 6
