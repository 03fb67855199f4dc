"""Scenario files: valid ones load, invalid ones give one line naming file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from ostinato_tcp.errors import ScenarioError
from ostinato_tcp.scenario import load_scenario, scenario_from_data

from .helpers import data, scenario

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(text))
    return p


GOOD = """\
name: t1
drones:
  main: {host: 192.0.2.10}
ports:
  a:
    drone: main
    interface: eth1
    device: {gateway: 10.1.1.1}
  b:
    drone: main
    interface: eth2
    device: {gateway: 10.2.2.1}
connections:
  client_ip: 10.1.1.100
  server_ip: 10.2.2.100
  server_port: 8080
  first_client_port: 23420
  count: 1000
traffic:
  rate: 100
dut:
  host: 192.0.2.1
"""


def test_defaults_follow_the_article(tmp_path):
    sc = load_scenario(write(tmp_path, GOOD))
    assert sc.traffic.client_isn == 100 and sc.traffic.server_isn == 200
    assert sc.traffic.delay == "auto" and sc.traffic.mode == "auto"
    assert sc.expect.state == "ESTABLISHED" and sc.expect.assured
    assert sc.dut.clear == "test" and sc.dut.port == 22 and not sc.dut.accept_new_host_key
    assert sc.drones["main"].port == 7878
    assert len(sc.content_hash) == 16


def test_template_is_valid():
    # the shipped templates (ostinato-tcp init): a test profile on top of a lab file
    sc = load_scenario(ROOT / "ostinato_tcp" / "templates" / "profile.yaml")
    assert sc.name == "my-dut-10k"
    assert sc.dut.sudo is True


@pytest.mark.parametrize("old,new,line,field,words", [
    ("  rate: 100", "  rate: -5", 20, "traffic.rate", "greater than 0"),
    ("  count: 1000", "  count: lots", 18, "connections.count", "valid integer"),
    ("  server_ip: 10.2.2.100", "  server_ip: 10.2.2.300", 15, "connections.server_ip", "IPv4"),
    ("  rate: 100", "  rate: 100\n  speed: 3", 21, "traffic.speed", "unknown field"),
    ("    interface: eth2", "    interface: eth2\n    drone: other", 12, "ports.b.drone", "duplicate key"),
    ("  host: 192.0.2.1", "  host: 192.0.2.1; rm -rf /", 22, "dut.host", "host name or IP address"),
    ("    drone: main\n    interface: eth1", "    drone: nope\n    interface: eth1", 6, "ports.a.drone", "not under"),
    ("  client_ip: 10.1.1.100", "  client_ip: 10.9.9.100", 8, "ports.a.device.gateway", "not on the subnet"),
    # YAML numbers and booleans are not addresses (pydantic alone made 5 into 0.0.0.5, true into 0.0.0.1)
    ("  server_ip: 10.2.2.100", "  server_ip: 5", 15, "connections.server_ip", "written as text"),
    ("  client_ip: 10.1.1.100", "  client_ip: true", 14, "connections.client_ip", "must be an IP address, not the boolean true"),
    # YAML 1.1 reads yes/no/on/off as booleans, and pydantic alone made them counts and ports of 1 and 0
    ("  count: 1000", "  count: yes", 18, "connections.count", "must be a number, not the boolean true"),
    ("  server_port: 8080", "  server_port: off", 16, "connections.server_port", "not the boolean false"),
])
def test_errors_name_line_and_field(tmp_path, old, new, line, field, words):
    text = GOOD.replace(old, new)
    assert text != GOOD
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(tmp_path, text))
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{tmp_path / 's.yaml'}:{line}: {field}"), msg
    assert words in msg


def test_yaml_syntax_error_has_a_line(tmp_path):
    with pytest.raises(ScenarioError, match=r"s\.yaml:2: YAML syntax: mapping values are not allowed"):
        load_scenario(write(tmp_path, "name: x\ndrones: main: 1\nports: {}\n"))


def test_missing_section(tmp_path):
    text = GOOD.split("dut:")[0]
    with pytest.raises(ScenarioError, match=r"s\.yaml:1: dut: required field is missing"):
        load_scenario(write(tmp_path, text))


@pytest.mark.parametrize("path,value", [
    ("connections.server_ip", "10.2.2.100; touch /tmp/x"),
    ("connections.client_ip", "$(touch /tmp/x)"),
    ("dut.user", "root`id`"),
    ("dut.password_env", "A; B"),
    ("name", "x y"),
])
def test_shell_metacharacters_are_rejected(path, value):
    with pytest.raises(ScenarioError, match=path.replace(".", r"\.")):
        scenario_from_data(data(**{path: value}))


def test_a_port_is_any_name_drone_lists_or_an_id():
    # Names are only ever matched against Drone's own list, so Windows names pass ...
    win = r"\Device\NPF_{6B3A1D2C-0F2E-4B7A-9C1D-3E5F7A9B1C2D}"
    sc = scenario(**{"ports.a.interface": win})
    assert sc.ports.a.ref == win and sc.ports.a.ref_field == "interface"
    sc = scenario(**{"ports.a.interface": None, "ports.a.port_id": 3})
    assert sc.ports.a.ref == 3 and sc.ports.a.ref_field == "port_id"
    # ... but a name with control characters, both or neither are refused, naming the field.
    with pytest.raises(ScenarioError, match=r"ports\.a\.interface: .*control characters"):
        scenario(**{"ports.a.interface": "eth1\nreboot"})
    with pytest.raises(ScenarioError, match=r"ports\.a: give either 'interface' .* not both"):
        scenario(**{"ports.a.port_id": 3})
    with pytest.raises(ScenarioError, match=r"ports\.a: give either 'interface' .* not neither"):
        scenario(**{"ports.a.interface": None})
    with pytest.raises(ScenarioError, match=r"ports\.b\.port_id: port B must differ from port A"):
        scenario(**{"ports.a.interface": None, "ports.a.port_id": 3, "ports.b.interface": None,
                    "ports.b.port_id": 3})


def test_nat_preserve_needs_address():
    with pytest.raises(ScenarioError, match="nat: .*needs 'address'"):
        scenario(**{"nat.mode": "preserve-ports"})
    sc = scenario(**{"nat.mode": "preserve-ports", "nat.address": "10.2.2.1"})
    assert str(sc.nat.address) == "10.2.2.1"


def test_device_ip_must_match_connections():
    with pytest.raises(ScenarioError, match=r"ports\.a\.device\.ip: 10\.1\.1\.5 differs from connections\.client_ip"):
        scenario(**{"ports.a.device.ip": "10.1.1.5"})


def test_lab_scenario_needs_a_running_lab(tmp_path, monkeypatch):
    import ostinato_tcp.lab._lab as L

    monkeypatch.setattr(L, "STATE_ROOT", tmp_path / "no-lab")
    with pytest.raises(ScenarioError, match=r"lab-1000\.yaml:6: lab: the built-in lab 'ostcp' is not up; run "
                                            r"'ostinato-tcp lab up' first"):
        load_scenario(ROOT / "scenarios" / "lab-1000.yaml")


def test_resolved_has_every_value():
    r = scenario().resolved()
    assert r["traffic"]["window"] == 1024 and r["connections"]["step"] == 1
    assert "source" not in r


def test_every_error_is_a_line_and_a_misspelt_key_names_the_field_it_stands_for(tmp_path):
    from ostinato_tcp.scenario import load_scenario

    text = yaml.safe_dump(data(), sort_keys=False).replace("rate: 100", "rats: 100").replace("host: 192.0.2.1",
                                                                                              "hots: 192.0.2.1")
    p = tmp_path / "typo.yaml"
    p.write_text(text)
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    lines = str(e.value).splitlines()
    # the drone and the DUT share the address in these data: both "host" keys are misspelt
    assert len(lines) == 3, lines
    assert "drones.main.hots: unknown field 'hots'; did you mean 'host'? (a required field)" in lines[0]
    assert "traffic.rats: unknown field 'rats'; did you mean 'rate'? (a required field)" in lines[1]
    # dut.host is required unless dut.kind: none, so the model does not mark it required
    assert "dut.hots: unknown field 'hots'; did you mean 'host'?" in lines[2]
    assert not any("required field is missing" in line for line in lines)
    assert all(line.startswith(f"{p}:") for line in lines)


def test_a_server_that_is_port_bs_gateway_and_a_pairs_family_are_named_where_they_are():
    with pytest.raises(ScenarioError, match="connections.server_ip: 10.2.2.1 is port B's gateway"):
        scenario(**{"connections.server_ip": "10.2.2.1"})


def test_the_templates_document_every_field():
    # ostinato-tcp init writes these; a field a user cannot find there is a field they never set
    import typing

    from pydantic import BaseModel

    from ostinato_tcp.scenario import Scenario

    text = "".join((ROOT / "ostinato_tcp" / "templates" / f).read_text() for f in ("lab.yaml", "profile.yaml"))
    missing, seen = [], set()

    def walk(model, path):
        if model in seen:
            return
        seen.add(model)
        for name, f in model.model_fields.items():
            if f.exclude:
                continue
            if f"{name}:" not in text:
                missing.append(f"{path}{name}")
            for t in typing.get_args(f.annotation) or (f.annotation,):
                for inner in typing.get_args(t) or (t,):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        walk(inner, f"{path}{name}.")

    walk(Scenario, "")
    assert not missing, ", ".join(missing)
    # the key file is an example: an active one would override the agent and ~/.ssh/config
    assert not any(line.lstrip().startswith("key_file:") for line in text.splitlines())


def test_unquoted_on_and_off_are_the_words_where_a_field_takes_them(tmp_path):
    # YAML makes booleans of off and on; traffic.batches and dut.compress list those words
    text = GOOD.replace("  rate: 100", "  rate: 100\n  batches: off").replace("  host: 192.0.2.1",
                                                                             "  host: 192.0.2.1\n  compress: on")
    sc = load_scenario(write(tmp_path, text))
    assert sc.traffic.batches == "off" and sc.dut.compress == "on"
    with pytest.raises(ScenarioError, match=r"traffic.batches: must be a number or 'auto' or 'off', not the boolean "
                                            r"true .*quote the word"):
        load_scenario(write(tmp_path, GOOD.replace("  rate: 100", "  rate: 100\n  batches: on")))
