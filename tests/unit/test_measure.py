"""Measured figures: frames told apart by size, intervals and their bounds, rates, and the
timing of a program's phases from a capture."""

from __future__ import annotations

import math

from ostinato_tcp.drone._encode import stream_config
from ostinato_tcp.drone._pb import ostproto_pb2 as pb
from ostinato_tcp.drone.fake import frame, pcap
from ostinato_tcp.ground.measure import Interval, Rate, Span, capture_spans, packet_times, sent_order, split_frames
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.streams import Wire, client_program

from .helpers import scenario


def test_tcp_frames_are_told_apart_from_arp_by_their_size():
    assert split_frames(2001, 2000 * 60 + 42, 64) == split_frames(2001, 120042, 64)
    f = split_frames(2001, 120042, 64)
    assert (f.tcp, f.other, f.exact) == (2000, 1, True)
    f = split_frames(2000 + 7, 2000 * 124 + 7 * 42, 128)  # 128-byte frames, 7 ARP
    assert (f.tcp, f.other, f.exact) == (2000, 7, True)
    f = split_frames(2002, 2000 * 60 + 42 + 90, 64)  # one frame of another size (an IPv6 RS, say)
    assert not f.exact and f.total == 2002
    assert split_frames(0, 0, 64).exact


def test_interval_bound_and_rate():
    iv = Interval(start_lo=10.0, start_hi=10.012, end_lo=11.0, end_hi=11.002)
    assert math.isclose(iv.seconds, 0.995) and math.isclose(iv.bound, 0.007)
    r = Rate(1000, iv.seconds, iv.bound)
    assert math.isclose(r.value, 1000 / 0.995)
    assert math.isclose(r.bound_pct, 100 * 0.007 / 0.988)
    assert r.text().startswith("1,005/s ±0.7% over 0.995 s")
    est = iv.share(500, 1000)
    assert est.estimated and Rate(500, est.seconds, est.bound, est.estimated).to_dict()["bound_pct"] is None
    assert (Span(1, 0.1) + est).estimated and not (Span(1, 0.1) + iv).estimated


def test_capture_times_each_phase_of_a_program():
    sc = scenario(**{"connections.count": 1000, "connections.first_client_port": 30000, "traffic.rate": 1000})
    plan = make_plan(sc)
    runs = plan.space.stream_runs(plan.batches[0])
    wire = Wire(0x02AA, {int(sc.connections.client_ip): 0x02BB, int(sc.connections.server_ip): 0x02CC})
    program = client_program(sc, runs, wire=wire)
    cfg = stream_config(pb, 0, range(1, len(program) + 1), program)
    # SYNs every 100 us, then (after a 5 ms hold-up) ACKs every 50 us; a few frames lost by the capture
    frames, times, t = [], [], 100.0
    packets = [(s, k) for s in cfg.stream for k in range(s.control.num_packets)]
    for i, (s, k) in enumerate(packets):
        t += 100e-6 if i < 1000 else 50e-6
        if i == 1000:
            t += 5e-3
        if i in (0, 999, 1500):
            continue  # dropped
        frames.append(frame(s, k))
        times.append(t)
    blob = pcap(frames)
    # the fake's pcap has no real timestamps: write ours in (seconds, microseconds)
    import struct
    out, off = bytearray(blob[:24]), 24
    for ts in times:
        _, _, incl, orig = struct.unpack_from("<IIII", blob, off)
        sec = int(ts)
        out += struct.pack("<IIII", sec, round((ts - sec) * 1e6), incl, orig) + blob[off + 16:off + 16 + incl]
        off += 16 + incl
    times = packet_times(bytes(out), program)
    assert len(times) == 2000 and sum(1 for t in times if math.isnan(t)) == 3  # the three dropped
    spans = capture_spans(times, {"syn": range(0, 1000), "ack": range(1000, 2000)})
    assert math.isclose(spans["syn"].seconds, 1000 * 100e-6, rel_tol=1e-3)  # 10,000 SYNs/s
    assert math.isclose(spans["ack"].seconds, 1000 * 50e-6, rel_tol=1e-3)
    assert spans["syn"].bound < 1e-4


def test_sent_order_finds_the_block_sent_out_of_order():
    from array import array

    m, rate, delay = 1000, 1000.0, 0.25
    a = array("d", [k / rate for k in range(m)] + [(m + k) / rate for k in range(m)])
    b = array("d", [delay + k / rate for k in range(m)])
    # port A stalls at SYN 300 and sends SYNs 300..449 in one burst at 0.75 s, then keeps time:
    # their SYN-ACKs (sent at 0.55..0.699 s) lead them by up to 0.2 s
    for k in range(300, 450):
        a[k] = 0.75
    a[5] = math.nan  # one SYN the capture missed: that connection is not timed
    o = sent_order(0, a, b, m, same_clock=True)
    assert o.timed == m - 1
    assert o.synack_first == [(300, 449, -0.2)]
    assert math.isclose(o.min_syn_to_synack, -0.2, abs_tol=1e-9) and o.at_syn_to_synack == 300
    assert o.ack_first == [] and math.isclose(o.min_synack_to_ack, m / rate - delay, abs_tol=1e-9)
    # in order: no blocks, margins as planned
    ok = sent_order(1, array("d", [k / rate for k in range(2 * m)]), b, m, same_clock=False)
    assert ok.synack_first == [] and math.isclose(ok.min_syn_to_synack, delay) and not ok.same_clock
