"""The jobs on the same seams as a run (Openers): the preflight, the capacity probe and verify,
against the in-memory FakeDrone and FakeDut (tests/lab/ runs each against the real lab)."""

from __future__ import annotations

from ostinato_tcp.drone.fake import FakeDrone
from ostinato_tcp.dut.fake import FakeDut
from ostinato_tcp.jobs.capacity import probe_capacity
from ostinato_tcp.jobs.preflight import check
from ostinato_tcp.jobs.verify import verify_live
from ostinato_tcp.run.connect import Openers
from ostinato_tcp.run.options import RunOptions

from .helpers import scenario
from .test_ports_runner import FAST, nothing_of_ours


def fakes(drone: FakeDrone, dut: FakeDut) -> Openers:
    return Openers(drone=lambda host, port: drone.connect(), dut=lambda sc, opts: dut)


def test_the_preflight_checks_each_item_on_the_run_seams():
    drone, dut = FakeDrone(pps=200_000), FakeDut()
    rep = check(scenario(**FAST), RunOptions(), fakes(drone, dut))
    names = {c.name: c.status for c in rep.checks}
    assert rep.exit_code == 0, [c.line() for c in rep.checks]
    for name in ("DUT SSH", "DUT conntrack", "DUT forwarding", "DUT table", "Drone main", "port A", "port B",
                 "ARP port A", "ARP port B", "Drone send ceiling", "DUT tracks forwarded packets", "plan"):
        assert names[name] == "OK", (name, [c.line() for c in rep.checks])
    assert rep.ceiling["packets_per_second"] > 100_000
    assert "icmp_entries" in dut.calls and "clear" in dut.calls  # the probe's entries were removed
    assert nothing_of_ours(drone) and all(p.user_name == "" for p in drone.ports.values())


def test_the_preflight_names_what_fails_with_its_exit_code():
    rep = check(scenario(**FAST), RunOptions(), fakes(FakeDrone(links_down=("portb",)), FakeDut(tracks=False)))
    lines = {c.name: c for c in rep.checks}
    assert lines["port B"].status == "FAIL" and "the link is down" in lines["port B"].detail
    assert rep.exit_code == 2
    rep = check(scenario(**FAST), RunOptions(), fakes(FakeDrone(), FakeDut(tracks=False)))
    assert {c.name: c.status for c in rep.checks}["DUT tracks forwarded packets"] == "FAIL"
    rep = check(scenario(**FAST), RunOptions(), fakes(FakeDrone(), FakeDut(fail="health")))
    assert {c.name: c.status for c in rep.checks}["DUT conntrack"] == "FAIL" and rep.exit_code == 3
    rep = check(scenario(**{**FAST, "traffic.rate": 900_000}), RunOptions(), fakes(FakeDrone(pps=200_000), FakeDut()))
    ceiling = {c.name: c for c in rep.checks}["Drone send ceiling"]
    assert ceiling.status == "FAIL" and "a run refuses it" in ceiling.detail and rep.exit_code == 2


def test_the_capacity_probe_reports_what_the_table_held():
    # a table with room for 150 of the 200 connections: the DUT shows 150 at the verdict and after
    dut = FakeDut(established=150, conntrack_max=160)
    rep = probe_capacity(scenario(**FAST), RunOptions(poll_interval=0), openers=fakes(FakeDrone(), dut))
    assert rep.result.error is None, rep.result.error
    assert rep.capacity == 150 and rep.survivors == 150 and rep.evicted_assured == 0
    assert dut.calls.count("verify") == 2  # the verdict, then the survivors' recheck
    assert "150 connections ESTABLISHED+ASSURED at once" in rep.lines()[0]


def test_verify_judges_the_table_now_through_the_same_seam():
    out = verify_live(scenario(**FAST), RunOptions(), openers=fakes(FakeDrone(), FakeDut()))
    assert out.verdict.passed and out.verdict.established_assured == 200 and out.source.startswith("DUT root@")
    out = verify_live(scenario(**FAST), RunOptions(), openers=fakes(FakeDrone(), FakeDut(established=20)))
    assert not out.verdict.passed and out.verdict.counts["missing"] == 180
    assert any("180 connection(s) have no conntrack entry" in d for d in out.diagnosis)
