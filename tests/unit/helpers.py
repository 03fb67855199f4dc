"""Scenario data for unit tests (no lab, no files)."""

from __future__ import annotations

BASE = {
    "name": "unit",
    "drones": {"main": {"host": "192.0.2.10", "port": 7878}},
    "ports": {
        "a": {"drone": "main", "interface": "eth1", "device": {"prefix": 24, "gateway": "10.1.1.1"}},
        "b": {"drone": "main", "interface": "eth2", "device": {"prefix": 24, "gateway": "10.2.2.1"}},
    },
    "connections": {"client_ip": "10.1.1.100", "server_ip": "10.2.2.100", "server_port": 8080,
                    "first_client_port": 23420, "count": 1000},
    "traffic": {"rate": 100},
    "dut": {"host": "192.0.2.1", "user": "root"},
}


def data(**changes) -> dict:
    """BASE with changes given as dotted paths: data(**{"traffic.rate": 5})."""
    from ostinato_tcp.scenario import with_changes

    return with_changes(BASE, changes)


def scenario(**changes):
    from ostinato_tcp.scenario import scenario_from_data

    return scenario_from_data(data(**changes))
