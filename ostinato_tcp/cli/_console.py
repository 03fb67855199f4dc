"""Terminal output for the CLI: rich progress bars on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time

from ostinato_tcp.run.result import RunEvents


class PlainEvents(RunEvents):
    """One line per phase and a progress line every few seconds (for logs and CI)."""

    def __init__(self, out=None, quiet: bool = False, every: float = 5.0):
        self.out = out or sys.stderr
        self.quiet = quiet
        self.every = every
        self._last = 0.0

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.out, flush=True)

    def phase(self, name: str, detail: str = "") -> None:
        self._say(f"[{time.strftime('%H:%M:%S')}] {name}: {detail}" if detail else f"{name}")

    def batch_started(self, batch, total_batches: int) -> None:
        if total_batches > 1:
            self._say(f"batch {batch.index + 1}/{total_batches}: connections {batch.first}.."
                      f"{batch.first + batch.count - 1}")

    def progress(self, sent_a, sent_b, expected_a, expected_b, ct_count) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            ct = f", DUT conntrack count {ct_count}" if ct_count is not None else ""
            self._say(f"  sent A {sent_a}/{expected_a}, B {sent_b}/{expected_b}{ct}")

    def holding(self, elapsed, total, keepalive_rounds) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            keep = f", {keepalive_rounds} keep-alive round(s)" if keepalive_rounds else ""
            self._say(f"  held {elapsed:.0f}/{total:g} s{keep}")



class RichEvents(RunEvents):
    """Progress bars per port and the DUT's table growing, for an interactive terminal."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.progress_ui = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=self.console,
                                    transient=False)
        self._tasks: dict[str, int] = {}
        self._started = False
        self._t0 = {}

    def _ensure(self) -> None:
        if not self._started:
            self.progress_ui.start()
            self._started = True

    def close(self) -> None:
        if self._started:
            self.progress_ui.stop()
            self._started = False

    def phase(self, name: str, detail: str = "") -> None:
        if self._started:
            self.progress_ui.console.log(f"{name}: {detail}")
        else:
            self.console.log(f"{name}: {detail}")

    def planned(self, plan) -> None:
        self._total = plan.total

    def batch_started(self, batch, total_batches: int) -> None:
        self._label = f" (batch {batch.index + 1}/{total_batches})" if total_batches > 1 else ""
        self._fresh = True  # bars start with the first packet, not with Drone's build

    def _bars(self, sent_a: int, sent_b: int) -> None:
        self._ensure()
        for key, text in (("a", f"port A SYN+ACK{self._label}"), ("b", f"port B SYN-ACK{self._label}")):
            if key in self._tasks:
                self.progress_ui.remove_task(self._tasks.pop(key))
            self._tasks[key] = self.progress_ui.add_task(text, total=None, rate="")
        if "ct" not in self._tasks:
            self._tasks["ct"] = self.progress_ui.add_task("DUT conntrack entries", total=getattr(self, "_total", None),
                                                          rate="")
        self._t0 = {"a": (time.monotonic(), sent_a), "b": (time.monotonic(), sent_b)}
        self._fresh = False

    def progress(self, sent_a, sent_b, expected_a, expected_b, ct_count) -> None:
        if getattr(self, "_fresh", True) or not self._tasks:
            self._bars(sent_a, sent_b)
        now = time.monotonic()
        for key, sent, exp in (("a", sent_a, expected_a), ("b", sent_b, expected_b)):
            t0, s0 = self._t0[key]
            done = max(0, sent - s0) if exp else 0
            rate = done / (now - t0) if now > t0 and done else 0
            self.progress_ui.update(self._tasks[key], completed=min(done, exp) if exp else done, total=exp or None,
                                    rate=f"{rate:,.0f}/s" if rate else "")
        if ct_count is not None:
            self.progress_ui.update(self._tasks["ct"], completed=ct_count)

    def holding(self, elapsed, total, keepalive_rounds) -> None:
        self._ensure()
        if "hold" not in self._tasks:
            self._tasks["hold"] = self.progress_ui.add_task("hold (seconds)", total=total, rate="")
        self.progress_ui.update(self._tasks["hold"], completed=min(elapsed, total),
                                rate=f"{keepalive_rounds} keep-alive(s)" if keepalive_rounds else "")

    def finished(self, sent_a, sent_b, expected_a, expected_b) -> None:
        if not self._tasks:
            return
        for key, sent, exp, text in (("a", sent_a, expected_a, "port A, whole run"),
                                     ("b", sent_b, expected_b, "port B, whole run")):
            self.progress_ui.update(self._tasks[key], description=text, completed=min(sent, exp), total=exp, rate="")


def make_events(quiet: bool):
    if quiet or not sys.stderr.isatty() or not sys.stdout.isatty():
        return PlainEvents(quiet=quiet)
    return RichEvents()


class _SweepEvents:
    """Progress over a sweep's points (the hooks of ostinato_tcp.jobs.sweep.SweepEvents)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.interactive = not quiet and sys.stderr.isatty()
        self._bar = None
        self._task = None

    def point_started(self, index, total, point, resumed) -> None:
        if self.interactive:
            if self._bar is None:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

                self._bar = Progress(TextColumn("sweep {task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn())
                self._bar.start()
                self._task = self._bar.add_task(point.name, total=total)
            self._bar.update(self._task, description=point.name, total=max(total, index + 1))
        elif not self.quiet:
            print(f"[{time.strftime('%H:%M:%S')}] point {index + 1}/{total} {point.name}"
                  + (" (already done)" if resumed else ""), file=sys.stderr, flush=True)

    def point_done(self, index, total, point, row) -> None:
        line = (f"  {point.name}: {row.get('verdict')} {row.get('established_assured', 0)}/{row.get('expected')}"
                + (f" ({row['error']})" if row.get("error") else ""))
        if self.interactive:
            self._bar.console.log(line)
            self._bar.advance(self._task)
        elif not self.quiet:
            print(line, file=sys.stderr, flush=True)

    def run_events(self):
        return PlainEvents(quiet=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def sweep_events(quiet: bool) -> _SweepEvents:
    return _SweepEvents(quiet)
