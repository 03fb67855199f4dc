"""What the scenario model and its cross-field rules share (the lowest module of the package)."""

from __future__ import annotations

IPV6_MIN_FRAME = 78  # Ethernet 14 + IPv6 40 + TCP 20 + FCS 4
MAX_PAIRS = 16


class CrossFieldError(ValueError):
    """A check across fields; carries the path of the field to blame."""

    def __init__(self, loc: tuple, message: str):
        self.loc = loc
        super().__init__(message)
