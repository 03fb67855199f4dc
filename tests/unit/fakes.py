"""Test doubles for the run's phases: the library's FakeDut (a scripted DUT behind the DUT
contract) beside its FakeDrone. They prove the order of calls and the clean-up, never that a
DUT tracked a connection (the lab tests do that against a real Drone and a real conntrack)."""

from __future__ import annotations

from ostinato_tcp.dut.fake import FakeDut

ScriptedDut = FakeDut  # the name the unit tests give it

__all__ = ["FakeDut", "ScriptedDut"]
