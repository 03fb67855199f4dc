"""What a job built of several runs (the conformance catalogue, the benchmark's trials) ends
with: a fault's exit code, else 0 when every part did as it should, 1 otherwise."""

from __future__ import annotations

from ostinato_tcp.errors import EXIT_FAILED, EXIT_INFRA, EXIT_OK


class JobOutcome:
    """Mixed into a job's report, which sets ``error`` and ``exception`` and says whether it passed."""

    error: str | None
    exception: BaseException | None

    @property
    def passed(self) -> bool:
        raise NotImplementedError

    @property
    def exit_code(self) -> int:
        if self.exception is not None:
            return getattr(self.exception, "exit_code", EXIT_INFRA)
        return EXIT_OK if self.passed else EXIT_FAILED

    @property
    def word(self) -> str:
        if self.error:
            return "error"
        return "pass" if self.exit_code == EXIT_OK else "fail"
