"""The capacity probe against the lab's real conntrack, its table cut to 20,000 entries:
how many connections it holds, what it did with the rest, and that ASSURED entries stay."""

from __future__ import annotations

import pytest

from .conftest import clear_test_space, entries_in_test_space

pytestmark = pytest.mark.exclusive  # nf_conntrack_max (host-wide) lowered


def test_a_table_of_20000_is_measured_with_its_drop_counters(ot, lab, relab, scenario_file):
    relab(conntrack_max=20000)
    clear_test_space(lab)
    sc = scenario_file("lab-1000.yaml", name="cap", **{"connections.count": 30000, "traffic.rate": 10000})
    # a normal run refuses it, before any packet
    rc, out, err, rep = ot("run", str(sc))
    assert rc == 2 and "is more than the DUT's conntrack table can take" in err
    rc, out, err, rep = ot("capacity", str(sc))
    assert rc == 0, out + err
    from ostinato_tcp.report.contract import validate

    assert rep["schema"] == "capacity" and validate(rep) == []  # the output keeps its shipped schema
    other = rep["entries_before"]
    assert rep["conntrack_max"] == 20000 and rep["attempted"] == 30000
    # the table is full: the test holds what the others (the tool's SSH sessions) leave; the polled
    # peak is a sample every second, the drop counter the kernel's own word for "full"
    assert 20000 - 50 <= rep["peak_count_polled"] <= 20000
    cap, held = rep["connection_tracking_table_capacity"], sum(rep["states"].values())
    # Not every slot ends ASSURED: once an insert finds the table full, the kernel's gc worker kills
    # entries that are not ASSURED while the count is above 95% of nf_conntrack_max, half-made
    # connections among them, whose slots the last SYNs may not refill (CI saw 19,719 and 19,740
    # of 19,976). The capacity is what stayed ESTABLISHED+ASSURED: between 95% and all of the room.
    assert 0.95 * 20000 - other <= cap <= held <= 20000 - other
    assert cap <= rep["entries_at_the_verdict"] - other + 10
    d = rep["counter_deltas"]
    assert d["early_drop"] > 0 and d["drop"] > 0  # non-ASSURED evicted, then nothing left to evict
    assert rep["survivors"] == rep["connection_tracking_table_capacity"] and rep["evicted_assured"] == 0
    assert "(connection tracking table capacity) of 30,000 sent" in out and "the table was full (drop > 0)" in out
    assert "no ASSURED entry was evicted" in out
    assert entries_in_test_space(lab) == 0
    # a count that fits is refused: nothing would overflow
    rc, out, err, rep = ot("capacity", str(scenario_file("lab-1000.yaml", name="cap-fits",
                                                          **{"connections.count": 5000})), report=False)
    assert rc == 2 and "connections.count 5000 fits in the DUT's" in err
