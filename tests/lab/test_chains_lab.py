"""The kernel's hash-chain limit in the real lab: with the host's table cut to 1,024 buckets
(restored after), 30,000 connections make a mean chain of about 59 (2 x entries / buckets).
The plan refuses the run before a packet is sent, naming the bucket count to set; a forced
run fails, and its diagnosis lays the lost connections at chaintoolong, with its delta."""

from __future__ import annotations

import pytest

from .conftest import clear_test_space

pytestmark = pytest.mark.exclusive  # nf_conntrack_buckets (host-wide) lowered


def test_too_few_buckets_are_refused_and_a_forced_run_blames_chaintoolong(ot, lab, relab, scenario_file, request):
    relab(conntrack_buckets=1024)
    clear_test_space(lab)
    sc = str(scenario_file("lab-1000.yaml", name="chains", **{"connections.count": 30000, "traffic.rate": 10000}))
    rc, out, err, rep = ot("plan", sc, "--json", report=False)
    assert rc == 2 and "Fix: set net.netfilter.nf_conntrack_buckets to 4,096 or more" in out + err, out + err
    rc, out, err, rep = ot("run", sc)
    assert rc == 2 and "chaintoolong" in err and rep is None, (rc, err)  # refused: nothing sent, no report

    try:
        rc, out, err, rep = ot("run", sc, "--ignore-plan-checks")
    finally:
        clear_test_space(lab)
    assert rc == 1, out + err
    refused = rep["dut"]["counter_deltas"]["chaintoolong"]
    forecast = rep["plan"]["dut_table"]["expected_chain_refusals"]
    missing = rep["categories"]["missing"]
    request.node.user_properties += [("chaintoolong", refused), ("forecast", forecast), ("missing", missing)]
    print(f"1,024 buckets, 30,000 connections: chaintoolong +{refused}, forecast {forecast:.0f}, missing {missing}")
    assert refused > 0 and missing > 0
    # the kernel's count explains the lost connections (a refused SYN leaves no entry)
    assert abs(missing - refused) <= max(5, missing // 50), (missing, refused)
    # the forecast's model of the limit (Poisson chains, a limit of 50-79) is of the measured order
    assert forecast / 3 <= refused <= forecast * 3, (refused, forecast)
    text = "\n".join(rep["diagnosis"])
    assert f"chaintoolong +{refused}" in text and "nf_conntrack_buckets" in text, text
    assert rep["outcome"]["failed_by_the_dut"] == missing
