"""Measured figures: send intervals with their bounds, rates, and the run's TCP frames.

Every rate the tool prints or records is one of three, defined here once (the
words of RFC 9693, docs/figures.md):

* **port packet rate**: TCP frames a port sent / the time it transmitted them;
* **offered connection rate**: SYNs sent / the time the SYN phase took;
* **end-to-end connection rate**: connections / the time from the first SYN to the
  last ACK (builds between batches excluded; phases and their gaps included).

Times come from Drone's transmit state: the start lies between the startTransmit
request and its reply (Drone answers only once its transmit thread runs, so the reply
can come 10 ms after the first packet), the end between the last poll that saw the
port transmitting and the first that saw it idle (polled densely near the end). An
:class:`Interval` keeps both windows; its ``bound`` is the half-width of each,
added, so the true duration lies within ``seconds ± bound``.

Frames: Drone's port counters count every frame, the emulated devices' ARP too.
ARP frames are 42 bytes and the run's TCP frames ``frame_length - 4`` (Drone's frame
length includes the FCS), so the bytes tell the two apart exactly:
``tcp = (bytes - 42 * frames) / (L - 42)``.
"""

from __future__ import annotations

from dataclasses import dataclass

ARP_FRAME_BYTES = 42  # Ethernet + ARP, as Drone's emulated devices send it (no padding on the host side)
FCS_BYTES = 4


@dataclass(frozen=True)
class Interval:
    """A transmit interval on the monotonic clock: start within [start_lo, start_hi],
    end within [end_lo, end_hi]."""

    start_lo: float
    start_hi: float
    end_lo: float
    end_hi: float

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end_lo + self.end_hi) / 2 - (self.start_lo + self.start_hi) / 2)

    @property
    def bound(self) -> float:
        """Half-width of the uncertainty of :attr:`seconds`."""
        return (self.end_hi - self.end_lo) / 2 + (self.start_hi - self.start_lo) / 2

    def share(self, part: int, whole: int) -> "Interval":
        """The first ``part`` of ``whole`` frames sent at one pace (a phase inside one transmit)."""
        f = part / whole if whole else 0.0
        return Interval(self.start_lo, self.start_hi, self.start_lo + f * (self.end_lo - self.start_lo),
                        self.start_hi + f * (self.end_hi - self.start_hi))


@dataclass(frozen=True)
class Span:
    """Several intervals measured one after another, summed (e.g. a run's batches)."""

    seconds: float = 0.0
    bound: float = 0.0

    def __add__(self, other: "Span | Interval") -> "Span":
        return Span(self.seconds + other.seconds, self.bound + other.bound)


def span_of(first: Interval, last: Interval) -> Interval:
    """From the start of ``first`` to the end of ``last``."""
    return Interval(first.start_lo, first.start_hi, last.end_lo, last.end_hi)


@dataclass(frozen=True)
class Rate:
    """``count`` events over ``seconds`` measured within ``± bound`` seconds."""

    count: int
    seconds: float
    bound: float

    @property
    def value(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def bound_pct(self) -> float:
        """The rate's relative uncertainty, in percent (the larger side)."""
        if self.seconds <= 0:
            return float("inf")
        if self.bound >= self.seconds:
            return float("inf")
        return 100.0 * self.bound / (self.seconds - self.bound)

    def to_dict(self) -> dict:
        pct = self.bound_pct
        return {"per_second": round(self.value, 1), "bound_pct": None if pct == float("inf") else round(pct, 3),
                "count": self.count, "seconds": round(self.seconds, 6), "bound_seconds": round(self.bound, 6)}

    def text(self) -> str:
        """e.g. ``375,292/s ±1.2% over 1.07 s``."""
        pct = self.bound_pct
        b = "±?" if pct == float("inf") else f"±{pct:.1f}%" if pct >= 0.1 else f"±{pct:.2f}%"
        return f"{self.value:,.0f}/s {b} over {self.seconds:.3g} s"


@dataclass(frozen=True)
class Frames:
    """What a port sent during the run, split into the run's TCP frames and the rest."""

    tcp: int
    other: int
    exact: bool  # False: frames of another size than ARP were sent too; tcp is an estimate

    @property
    def total(self) -> int:
        return self.tcp + self.other


def split_frames(frames: int, nbytes: int, frame_length: int) -> Frames:
    """Split a counter delta into TCP frames of ``frame_length`` (with FCS) and ARP frames."""
    tcp_len = frame_length - FCS_BYTES
    if frames <= 0:
        return Frames(0, 0, frames == 0 and nbytes == 0)
    num = nbytes - ARP_FRAME_BYTES * frames
    tcp, rem = divmod(num, tcp_len - ARP_FRAME_BYTES)
    if rem == 0 and 0 <= tcp <= frames:
        return Frames(tcp, frames - tcp, True)
    est = min(frames, max(0, round(num / (tcp_len - ARP_FRAME_BYTES))))
    return Frames(est, frames - est, False)
