"""The hooks a run calls as it goes: progress bars, reports and history attach to them, so the
run itself never prints (in the manner of Nornir's processors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ostinato_tcp.domain.plan import Plan
    from ostinato_tcp.domain.tuples import Batch


class RunEvents:
    """Hooks for progress, reports and history. The default does nothing."""

    def phase(self, name: str, detail: str = "") -> None:
        pass

    def planned(self, plan: "Plan") -> None:
        pass

    def batch_started(self, batch: "Batch", total_batches: int) -> None:
        pass

    def progress(self, sent_a: int, sent_b: int, expected_a: int, expected_b: int, ct_count: int | None) -> None:
        pass

    def finished(self, sent_a: int, sent_b: int, expected_a: int, expected_b: int) -> None:
        """All batches sent; Drone's counters have settled."""

    def holding(self, elapsed: float, total: float, keepalive_rounds: int) -> None:
        """During ``expect.hold``: seconds held so far of ``total``."""
