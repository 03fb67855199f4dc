"""Scenario files: YAML in, validated and typed objects out.

Errors are one line naming the file, the line and the field, e.g.
``scenarios/x.yaml:14: traffic.rate: must be greater than 0 (got -5)``.
No value from a scenario ever reaches a shell unvalidated: addresses are parsed
as IPv4, ports and counts are integers, names are restricted to safe characters.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import ipaddress
import json
import re
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator)

from .errors import ScenarioError

_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,63}$"
_IFNAME_RE = r"^[A-Za-z0-9_.:@+-]{1,64}$"
_USER_RE = r"^[a-z_][a-z0-9_.-]{0,31}\$?$"
_HOST_RE = r"^[A-Za-z0-9_.:-]{1,253}$"
_CMD_RE = r"^(/[A-Za-z0-9_.+-]+)+$|^[A-Za-z0-9_.+-]{1,64}$"
_ENV_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_MAC_RE = re.compile(r"^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){5}$")

IPv4 = ipaddress.IPv4Address
_PATTERN_WORDS = {
    _NAME_RE: "must be 1-64 of letters, digits and _.:@+- (starting with a letter or digit)",
    _IFNAME_RE: "must be 1-64 of letters, digits and _.:@+-",
    _USER_RE: "must be a user name: lower-case letters, digits and _.- (starting with a letter or _)",
    _HOST_RE: "must be a host name or IP address: letters, digits and _.:- only",
    _ENV_RE: "must be an environment variable name: letters, digits and _",
    _CMD_RE: "must be a command name or an absolute path: letters, digits and _.+-/ only",
    r"^[a-z][a-z0-9]{0,7}$": "must be a lab prefix: 1-8 lower-case letters and digits",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class DroneEndpoint(_Model):
    host: str = Field(pattern=_HOST_RE)
    port: int = Field(7878, ge=1, le=65535)


class Device(_Model):
    """The emulated IPv4 device on a port: answers ARP and resolves the gateway's MAC."""

    ip: Optional[IPv4] = None
    prefix: int = Field(24, ge=1, le=30)
    gateway: IPv4
    mac: Optional[str] = None

    @field_validator("mac")
    @classmethod
    def _mac(cls, v):
        if v is not None and not _MAC_RE.match(v):
            raise ValueError(f"not a MAC address like 00:11:22:33:44:55 (got {v!r})")
        return v

    def mac_int(self) -> int | None:
        return None if self.mac is None else int(re.sub("[:-]", "", self.mac), 16)


class PortSpec(_Model):
    drone: str = Field(pattern=_NAME_RE)
    interface: str = Field(pattern=_IFNAME_RE)
    device: Device


class Ports(_Model):
    a: PortSpec
    b: PortSpec


class Connections(_Model):
    client_ip: IPv4
    client_ips: Union[int, Literal["auto"]] = 1
    server_ip: IPv4
    server_port: int = Field(ge=1, le=65535)
    first_client_port: int = Field(ge=1, le=65535)
    count: int = Field(ge=1, le=16_000_000)
    step: int = Field(1, ge=1, le=65535)

    @field_validator("client_ips")
    @classmethod
    def _ips(cls, v):
        if v != "auto" and not 1 <= v <= 65536:
            raise ValueError(f"must be 'auto' or 1..65536 (got {v})")
        return v


class Traffic(_Model):
    rate: float = Field(gt=0, le=10_000_000, description="packets per second of each stream")
    delay: Union[float, Literal["auto"]] = "auto"
    mode: Literal["auto", "pipelined", "phased"] = "auto"
    batches: Union[Literal["auto", "off"], int] = "auto"
    client_isn: int = Field(100, ge=0, le=0xFFFFFFFF)
    server_isn: int = Field(200, ge=0, le=0xFFFFFFFF)
    window: int = Field(1024, ge=0, le=65535)
    frame_length: int = Field(64, ge=60, le=9000)
    min_margin: float = Field(0.2, ge=0, description="seconds each ordering margin must keep at least")
    rate_tolerance: float = Field(0.10, ge=0, le=1, description="a port slower than rate by more than this lags")
    build_seconds_per_packet: float = Field(0.0002, gt=0, description="Drone pre-build cost, for the plan")
    max_build_seconds: float = Field(120, gt=0, description="a larger batch is split")

    @field_validator("delay")
    @classmethod
    def _delay(cls, v):
        if v != "auto" and v <= 0:
            raise ValueError(f"must be 'auto' or a number of seconds > 0 (got {v})")
        return v

    @field_validator("batches")
    @classmethod
    def _batches(cls, v):
        if isinstance(v, int) and v < 1:
            raise ValueError(f"must be 'auto', 'off' or a batch size >= 1 (got {v})")
        return v


class Dut(_Model):
    host: str = Field(pattern=_HOST_RE)
    port: int = Field(22, ge=1, le=65535)
    user: Optional[str] = Field(None, pattern=_USER_RE)
    key_file: Optional[Path] = None
    known_hosts: Optional[Path] = None
    accept_new_host_key: bool = False
    password_env: Optional[str] = Field(None, pattern=_ENV_RE)
    ssh_config: bool = True
    sudo: bool = False
    clear: Literal["test", "all", "none"] = "test"
    poll_interval: float = Field(1.0, ge=0, description="seconds between conntrack count polls; 0 = off")
    connect_timeout: float = Field(10, gt=0)
    command_timeout: float = Field(300, gt=0)
    compress: Literal["auto", "on", "off"] = "auto"
    conntrack: str = Field("conntrack", pattern=_CMD_RE, description="conntrack's name or absolute path on the DUT")


class Nat(_Model):
    mode: Literal["none", "preserve-ports", "learn"] = "none"
    address: Optional[IPv4] = None

    @model_validator(mode="after")
    def _addr(self):
        if self.mode == "preserve-ports" and self.address is None:
            raise ValueError("mode preserve-ports needs 'address' (the DUT's translated source address)")
        return self


class Expect(_Model):
    state: Literal["ESTABLISHED"] = "ESTABLISHED"
    assured: bool = True


class Scenario(_Model):
    name: str = Field(pattern=_NAME_RE)
    description: str = ""
    lab: Optional[str] = Field(None, pattern=r"^[a-z][a-z0-9]{0,7}$")
    lab_two_drones: bool = Field(False, description="filled from lab: {two_drones: true}")
    drones: dict[str, DroneEndpoint]
    ports: Ports
    connections: Connections
    traffic: Traffic
    dut: Dut
    nat: Nat = Nat()
    expect: Expect = Expect()
    # Not from the file: where it came from and its content hash (for history).
    source: Optional[str] = Field(None, exclude=True)
    content_hash: Optional[str] = Field(None, exclude=True)

    @field_validator("drones")
    @classmethod
    def _drone_names(cls, v):
        if not 1 <= len(v) <= 2:
            raise ValueError(f"list one or two Drones (got {len(v)})")
        for key in v:
            if not re.match(_NAME_RE, key):
                raise ValueError(f"Drone name {key!r} has characters outside [A-Za-z0-9_.:@+-]")
        return v

    @model_validator(mode="after")
    def _cross(self):
        for side in ("a", "b"):
            if getattr(self.ports, side).drone not in self.drones:
                raise _CrossError(("ports", side, "drone"),
                                  f"names Drone {getattr(self.ports, side).drone!r}, which is not under 'drones' "
                                  f"({', '.join(self.drones)})")
        pa, pb = self.ports.a, self.ports.b
        if pa.drone == pb.drone and pa.interface == pb.interface:
            raise _CrossError(("ports", "b", "interface"), "port B must differ from port A")
        c = self.connections
        if pa.device.ip is not None and pa.device.ip != c.client_ip:
            raise _CrossError(("ports", "a", "device", "ip"),
                              f"{pa.device.ip} differs from connections.client_ip {c.client_ip}: Drone takes each "
                              "packet's MAC from the device whose IP is its source; leave 'ip' out")
        if pb.device.ip is not None and pb.device.ip != c.server_ip:
            raise _CrossError(("ports", "b", "device", "ip"),
                              f"{pb.device.ip} differs from connections.server_ip {c.server_ip}; leave 'ip' out")
        for side, ip in (("a", c.client_ip), ("b", c.server_ip)):
            dev = getattr(self.ports, side).device
            net = ipaddress.IPv4Network(f"{dev.gateway}/{dev.prefix}", strict=False)
            if ip not in net:
                raise _CrossError(("ports", side, "device", "gateway"),
                                  f"{dev.gateway}/{dev.prefix} is not on the subnet of {ip}")
        if c.client_ip == c.server_ip:
            raise _CrossError(("connections", "server_ip"), "must differ from client_ip")
        return self

    # Derived -------------------------------------------------------------
    def resolved(self) -> dict:
        """Every value, defaults filled in (for reports and history)."""
        return json.loads(self.model_dump_json(exclude={"source", "content_hash"}))


class _CrossError(ValueError):
    """A check across fields; carries the path of the field to blame."""

    def __init__(self, loc: tuple, message: str):
        self.loc = loc
        super().__init__(message)


# ---------------------------------------------------------------------------- loading
def _compose(text: str, source: str):
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError(f"YAML syntax: {exc.problem or exc}", file=source, line=line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"YAML: {exc}", file=source) from None


def _to_python(node, path: tuple, lines: dict, source: str) -> Any:
    """Node tree -> plain data, recording the line of every path."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in out:
                raise ScenarioError(f"{'.'.join(map(str, path + (key,)))}: duplicate key", file=source,
                                    line=key_node.start_mark.line + 1, field=".".join(map(str, path + (key,))))
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, path + (key,), lines, source)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, path + (i,), lines, source) for i, v in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:  # e.g. an unknown tag like '!x', or a bad timestamp
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"YAML: {problem}", file=source, line=node.start_mark.line + 1) from None
    finally:
        loader.dispose()


def line_for(loc: tuple, lines: dict) -> int | None:
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def _fields_at(loc: tuple) -> list[str]:
    """The field names the model accepts beside the last element of ``loc``."""
    if loc and loc[0] == "drones" and len(loc) == 3:
        return list(DroneEndpoint.model_fields)
    model: Any = Scenario
    for part in loc[:-1]:
        if isinstance(model, type) and issubclass(model, BaseModel):
            info = model.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                return []
            model = info.annotation
        else:
            return []
        args = [a for a in getattr(model, "__args__", ()) if a is not type(None)]
        if args and not (isinstance(model, type) and issubclass(model, BaseModel)):
            model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), model)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [k for k, f in model.model_fields.items() if not f.exclude and k != "lab_two_drones"]
    return []


def _describe(err: dict) -> str:
    typ, msg, value = err["type"], err["msg"], err.get("input")
    if typ == "extra_forbidden":
        loc = tuple(err["loc"])
        known = _fields_at(loc)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else (
            f"known here: {', '.join(known)}" if known else "see scenarios/template-real-lab.yaml")
        return f"unknown field {str(loc[-1])!r}; {hint}"
    if typ == "missing":
        return "required field is missing"
    if typ == "string_pattern_mismatch":
        allowed = _PATTERN_WORDS.get((err.get("ctx") or {}).get("pattern"), "characters that are not allowed")
        return f"{allowed} (got {value!r})"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if typ.startswith(("greater", "less", "string_pattern", "int_", "float_", "literal", "ip_", "bool",
                       "ipv4", "string_type", "int_from_float")):
        shown = value if not isinstance(value, (dict, list)) else type(value).__name__
        return f"{msg[0].lower() + msg[1:]} (got {shown!r})"
    return msg


def scenario_from_data(data: Any, *, source: str = "<scenario>", lines: dict | None = None,
                       overrides: dict | None = None) -> Scenario:
    lines = lines or {}
    if not isinstance(data, dict):
        raise ScenarioError("the file must hold a mapping (key: value lines) at the top", file=source, line=1)
    data = dict(data)
    _refuse_passwords(data, source, lines)
    lab_name = overrides.pop("lab", None) if overrides else None
    if lab_name:
        data["lab"] = lab_name
    if data.get("lab"):
        data = _fill_from_lab(data, source, lines)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err["loc"])
        ctx_exc = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_exc, _CrossError):
            loc = ctx_exc.loc
        # pydantic adds the union member tag to loc (e.g. 'int', 'literal[...]'); drop it.
        clean = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("int", "float", "str"))))
        field = ".".join(str(p) for p in clean) or "(top)"
        raise ScenarioError(f"{field}: {_describe(err)}", file=source, line=line_for(clean, lines),
                            field=field) from None


def _refuse_passwords(data: dict, source: str, lines: dict) -> None:
    """A password in a scenario file would end up in version control and in reports."""
    dut = data.get("dut")
    if not isinstance(dut, dict):
        return
    for key in dut:
        if "pass" in str(key).lower() and key != "password_env":
            raise ScenarioError(f"dut.{key}: passwords are never read from scenario files; put the password in "
                                "an environment variable named by dut.password_env, or use --ask-dut-password",
                                file=source, line=lines.get(("dut", key)), field=f"dut.{key}")


def _fill_from_lab(data: dict, source: str, lines: dict) -> dict:
    """Endpoints (Drones, port names, DUT SSH) from the running built-in lab named by ``lab:``."""
    from .lab import Lab

    prefix, two, nat = data["lab"], False, None
    if isinstance(prefix, dict):
        unknown = set(prefix) - {"prefix", "two_drones", "nat"}
        if unknown:
            raise ScenarioError(f"lab.{sorted(unknown)[0]}: unknown field (use prefix, two_drones, nat)", file=source,
                                line=lines.get(("lab", sorted(unknown)[0])), field="lab")
        prefix, two, nat = prefix.get("prefix", "ostcp"), bool(prefix.get("two_drones", False)), prefix.get("nat")
    if not isinstance(prefix, str) or not re.match(r"^[a-z][a-z0-9]{0,7}$", prefix):
        raise ScenarioError(f"lab: not a lab prefix (got {prefix!r})", file=source, line=lines.get(("lab",)),
                            field="lab")
    lab = Lab.from_state(prefix)
    if not lab.state_file.exists():
        raise ScenarioError(f"lab: the built-in lab '{prefix}' is not up; run 'ostinato-tcp lab up"
                            + ("" if prefix == "ostcp" else f" --prefix {prefix}") + "' first",
                            file=source, line=lines.get(("lab",)), field="lab")
    eps = lab.endpoints()
    if two and eps.drone_b["host"] == eps.drone_a["host"]:
        raise ScenarioError(f"lab: this scenario puts port B on a second Drone, but lab '{prefix}' has one; run "
                            f"'ostinato-tcp lab up --two-drones" + ("" if prefix == "ostcp" else f" --prefix {prefix}")
                            + "'", file=source, line=lines.get(("lab",)), field="lab")
    if nat and eps.dut["nat"] != nat:
        raise ScenarioError(f"lab: this scenario needs the lab's DUT to NAT ({nat}), but lab '{prefix}' has "
                            f"{eps.dut['nat'] or 'no NAT'}; run 'ostinato-tcp lab up --nat {nat}"
                            + ("" if prefix == "ostcp" else f" --prefix {prefix}") + "'",
                            file=source, line=lines.get(("lab",)), field="lab")
    out = dict(data)
    out["lab"] = prefix
    out["lab_two_drones"] = two
    drones = {"lab-a": {"host": eps.drone_a["host"], "port": eps.drone_a["port"]}}
    two = eps.drone_b["host"] != eps.drone_a["host"]
    if two:
        drones["lab-b"] = {"host": eps.drone_b["host"], "port": eps.drone_b["port"]}
    out["drones"] = drones
    ports = {k: dict(v) for k, v in (data.get("ports") or {}).items()} if isinstance(data.get("ports"), dict) else {}
    for side, ep, dname in (("a", eps.drone_a, "lab-a"), ("b", eps.drone_b, "lab-b" if two else "lab-a")):
        p = dict(ports.get(side) or {})
        p["drone"] = dname
        p["interface"] = ep["port_name"]
        ports[side] = p
    out["ports"] = ports
    dut = dict(data.get("dut") or {}) if isinstance(data.get("dut"), dict) else {}
    dut.update(host=eps.ssh["host"], port=eps.ssh["port"], key_file=eps.ssh["key_file"],
               known_hosts=eps.ssh["known_hosts"])
    dut.setdefault("user", eps.ssh["user"])
    out["dut"] = dut
    return out


def with_changes(data: dict, changes: dict[str, Any]) -> dict:
    """A deep copy of scenario data with values set at dotted paths, e.g.
    ``{"traffic.rate": 500}``; the value None removes the key."""
    out = copy.deepcopy(data)
    for path, value in changes.items():
        *parents, last = path.split(".")
        cur = out
        for key in parents:
            cur = cur.setdefault(key, {})
        if value is None:
            cur.pop(last, None)
        else:
            cur[last] = value
    return out


def _parse_text(text: str, source: str) -> tuple[Any, dict]:
    """(data, line of every key path) of YAML text."""
    node = _compose(text, source)
    if node is None:
        raise ScenarioError("the file is empty", file=source, line=1)
    lines: dict = {}
    return _to_python(node, (), lines, source), lines


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None


def read_yaml_file(path: str | Path) -> tuple[Any, dict, str]:
    """(data, line of every key path, text) of a YAML file; errors name file and line."""
    text = _read_text(Path(path))
    data, lines = _parse_text(text, str(path))
    return data, lines, text


def load_scenario(path: str | Path, *, lab: str | None = None) -> Scenario:
    """Read and validate a scenario file. ``lab`` takes the endpoints from that built-in lab."""
    return scenario_from_text(_read_text(Path(path)), source=str(path), lab=lab)


def scenario_from_text(text: str, *, source: str = "<scenario>", lab: str | None = None) -> Scenario:
    """Validate scenario YAML text; every error is a :class:`ScenarioError` naming the line."""
    data, lines = _parse_text(text, source)
    sc = scenario_from_data(data, source=source, lines=lines, overrides={"lab": lab} if lab else None)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return sc.model_copy(update={"source": source, "content_hash": digest})
