"""A batch timed by Drone's own capture of both ports.

To microseconds, a pipelined SYN phase apart from its ACKs, and the order each connection's
packets left in, rather than by the transmit state, whose start is known only to the
startTransmit reply (about 10 ms after the first packet). Drone's capture thread needs a
moment to open (:attr:`DronePort.capture_open`) and hands its last frames over about a second
after they were sent (:attr:`DronePort.capture_settle`): the run opens the capture before
the batch's build finishes and reads it while the next batch builds or the DUT is dumped, so
those waits overlap other work.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ostinato_tcp.errors import DroneRpcError
from array import array

from ostinato_tcp.ground.measure import (NO_LIMIT, ORDER_GUARD, capture_spans, clock_offset, mark_late_timed,
                                         packet_times, sent_order)

if TYPE_CHECKING:
    from ostinato_tcp.drone.port import DronePort
    from ostinato_tcp.run.result import Traffic
    from ostinato_tcp.domain.tuples import Batch


class BatchCapture:
    def __init__(self, a: "DronePort", b: "DronePort", result: "Traffic"):
        self.a, self.b, self.result = a, b, result
        self.opened_at = 0.0
        self.sent_at = 0.0
        self.order_read = False  # the captures gave each connection's order
        self.same_clock = a.drone.endpoint.rsplit(":", 1)[0] == b.drone.endpoint.rsplit(":", 1)[0]

    def start(self) -> bool:
        try:
            for p in (self.a, self.b):
                p.start_capture()
        except DroneRpcError as exc:
            self.result.warnings.append(f"Drone could not capture ({exc}): the send is timed by its transmit state")
            return False
        self.opened_at = time.monotonic()
        return True

    def wait_open(self) -> None:
        """Give the capture thread its time to open before the first packet."""
        time.sleep(max(0.0, self.opened_at + self.a.capture_open - time.monotonic()))

    def mark_sent(self) -> None:
        self.sent_at = time.monotonic()

    def finish(self, batch: "Batch", refs: tuple[list, list], times: dict, *, pipelined: bool,
               marks: bytearray | None = None, limits: tuple[float, float] = NO_LIMIT) -> None:
        """Replace the transmit-state times in ``times`` by the captures' (where they saw enough);
        a pipelined batch's per-connection order goes into ``marks``, and a phased batch's LATE
        marks (a gap that reached ``limits``) are set by the captured times."""
        t0 = time.monotonic()
        time.sleep(max(0.0, self.sent_at + self.a.capture_settle - t0))
        m = batch.count
        pcap_a, pcap_b = self.a.stop_capture(), self.b.stop_capture()
        a_times, b_times = packet_times(pcap_a, refs[0]), packet_times(pcap_b, refs[1])
        same_clock, offset = self.same_clock, None
        if (pipelined or limits != NO_LIMIT) and not same_clock:  # two Drone hosts: their clocks' offset
            offset = clock_offset(a_times, packet_times(pcap_b, refs[0]), b_times, packet_times(pcap_a, refs[1]))
            if offset is not None and offset[1] - offset[0] <= ORDER_GUARD:
                shift = (offset[0] + offset[1]) / 2
                b_times = array("d", (t - shift for t in b_times))
                same_clock = True
        got_a = capture_spans(a_times, {"syn": range(0, m), "ack": range(m, 2 * m), "all": range(0, 2 * m)})
        got_b = capture_spans(b_times, {"all": range(0, m)})
        r = self.result
        for side, t in (("a", a_times), ("b", b_times)):  # distinct frames of the run's program that were seen
            r.captured[side] = r.captured.get(side, 0) + sum(1 for x in t if x == x)
        if pipelined and len(a_times) >= 2 * m and len(b_times) >= m:
            order = sent_order(batch.index, a_times, b_times, m, same_clock=same_clock, marks=marks,
                               offset=batch.first, limits=limits)
            if offset is not None:
                order.clock_offset = round((offset[0] + offset[1]) / 2, 6)
                order.clock_bound = round((offset[1] - offset[0]) / 2, 6)
            r.sent_order.append(order)
            self.order_read = order.timed > 0 and same_clock  # each connection's order known
        elif marks is not None and same_clock and limits != NO_LIMIT and len(a_times) >= 2 * m and len(b_times) >= m:
            mark_late_timed(marks, batch.first, a_times, b_times, m, limits)  # phased: which gaps were late
        r.timings["capture"] = r.timings.get("capture", 0.0) + time.monotonic() - t0
        if "syn" in got_a:
            times["syn"] = got_a["syn"]
        if pipelined:
            if "all" in got_a:
                times["handshake"], times["a"] = got_a["all"], [got_a["all"]]
        elif "syn" in got_a and "ack" in got_a:
            times["a"] = [got_a["syn"], got_a["ack"]]
        if "all" in got_b:
            times["b"] = [got_b["all"]]
        r.timed_by_capture = True
