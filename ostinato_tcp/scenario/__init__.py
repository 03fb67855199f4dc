"""Scenarios: the model (:mod:`._model`) and the YAML loader with line-precise errors (:mod:`._load`)."""

from ostinato_tcp.scenario._load import (LabReader, line_for, load_scenario, read_scenario_data, read_yaml_file, scenario_from_data,
                    scenario_from_text, with_changes)
from ostinato_tcp.ground.shipped import shipped_scenario
from ostinato_tcp.scenario._model import (LAB_PREFIX_RE, Connections, Device, DroneEndpoint, DutConfig, Expect, JumpHost, Nat, Pair, Ports,
                     PortSpec, Scenario, Traffic)

__all__ = ["LAB_PREFIX_RE", "Connections", "Device", "DroneEndpoint", "DutConfig", "Expect", "JumpHost", "LabReader", "Nat",
           "Pair", "PortSpec", "Ports", "Scenario", "Traffic", "line_for", "load_scenario", "read_scenario_data",
           "read_yaml_file",
           "scenario_from_data", "scenario_from_text", "shipped_scenario", "with_changes"]
