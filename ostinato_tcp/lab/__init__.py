"""The built-in lab: real Drone, a Linux conntrack DUT and sshd in network namespaces."""

from ostinato_tcp.lab._config import DEFAULT_PREFIX, PORT_A, PORT_B, Endpoints, LabConfig, table_settings
from ostinato_tcp.lab._lab import Lab, read_endpoints
from ostinato_tcp.lab._sys import check_prerequisites, list_namespaces

__all__ = ["DEFAULT_PREFIX", "PORT_A", "PORT_B", "Endpoints", "Lab", "LabConfig", "check_prerequisites", "table_settings",
           "list_namespaces", "read_endpoints"]
