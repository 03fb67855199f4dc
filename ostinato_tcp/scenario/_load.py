"""Scenario files: YAML in, validated :class:`Scenario` objects out.

Errors are one line naming the file, the line and the field, e.g.
``scenarios/x.yaml:14: traffic.rate: must be greater than 0 (got -5)``.

A scenario may name a running built-in lab (``lab: PREFIX``): its endpoints
(Drones, port names, DUT SSH) are then filled in from what the caller's
``lab_reader`` returns for that prefix (:func:`ostinato_tcp.lab.read_endpoints`
in the command line and the public API); this module never reads the lab itself.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import re
from pathlib import Path
from typing import Any, Callable, Optional

import yaml
from pydantic import BaseModel, ValidationError

from ostinato_tcp.errors import ScenarioError
from ostinato_tcp.scenario._base import CrossFieldError
from ostinato_tcp.scenario._model import _PATTERN_WORDS, LAB_PREFIX_RE, DroneEndpoint, Scenario, install_changes_hook

# prefix -> the running lab's endpoints (as ``lab up --json`` prints them), or None when it is not up
LabReader = Callable[[str], Optional[dict]]


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML has it (same marks)


def _compose(text: str, source: str):
    try:
        return yaml.compose(text, Loader=_LOADER)
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
    constructor = yaml.constructor.SafeConstructor()  # a scalar's value, as safe_load makes it
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.YAMLError as exc:  # e.g. an unknown tag like '!x', or a bad timestamp
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"YAML: {problem}", file=source, line=node.start_mark.line + 1) from None


def line_for(loc: tuple, lines: dict) -> int | tuple | None:
    """The line of the nearest key path above ``loc``: an int (the scenario file's line) or, for
    values from elsewhere (a lab file, a --set option), a (file, line) pair."""
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def _error(message: str, loc: tuple, lines: dict, source: str, field: str | None = None) -> ScenarioError:
    """A one-line error naming the file (or option) and line that gave the value at ``loc``."""
    where = line_for(loc, lines)
    file, line = where if isinstance(where, tuple) else (source, where)
    return ScenarioError(message, file=file, line=line, field=field)


def _fields_at(loc: tuple, top=None) -> list[str]:
    """The field names the model (``top``, a Scenario by default) accepts beside the last element of ``loc``."""
    if top is None and loc and loc[0] == "drones" and len(loc) == 3:
        return list(DroneEndpoint.model_fields)
    model: Any = top or Scenario
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
        return [k for k, f in model.model_fields.items() if not f.exclude]
    return []


def _describe(err: dict, model=None) -> str:
    typ, msg, value = err["type"], err["msg"], err.get("input")
    if typ == "extra_forbidden":
        loc = tuple(err["loc"])
        known = _fields_at(loc, model)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else (
            f"known here: {', '.join(known)}" if known else "see the templates 'ostinato-tcp init' writes")
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
                       lab: str | None = None, lab_reader: LabReader | None = None) -> Scenario:
    """Validate scenario data (as read from YAML). ``lab`` overrides the data's ``lab:``."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise ScenarioError("the file must hold a mapping (key: value lines) at the top", file=source, line=1)
    data = dict(data)
    _refuse_passwords(data, source, lines)
    if lab:
        data["lab"] = lab
    if data.get("lab"):
        data = _fill_from_lab(data, source, lines, lab_reader)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, lines, source) from None


def _clean_loc(err: dict) -> tuple:
    loc = tuple(err["loc"])
    ctx_exc = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_exc, CrossFieldError):
        loc = ctx_exc.loc
    # pydantic adds the union member tag to loc (e.g. 'int', 'literal[...]'); drop it.
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("constrained-")
                                                              or p in ("int", "float", "str", "Ports"))))


def validation_error(exc: ValidationError, lines: dict, source: str, model=None) -> ScenarioError:
    """Every error of a validation, one line each naming file, line and field (one per field: a
    union's members do not each add theirs); a misspelt key names the required field it stands
    for ("did you mean") instead of a second line saying that field is missing."""
    errs = []
    for err in exc.errors(include_url=False):
        loc = _clean_loc(err)
        if all(loc != seen for seen, _ in errs):
            errs.append((loc, err))
    # a union's member that does not fit at all ("ports: Input should be a valid list" beside the
    # dict member's own errors) says nothing the deeper errors under the same field do not
    errs = [(loc, err) for loc, err in errs
            if not (err["type"].endswith("_type") and any(len(o) > len(loc) and o[:len(loc)] == loc for o, _ in errs))]
    missing = {loc: err for loc, err in errs if err["type"] == "missing"}
    explained = set()
    out = []
    for loc, err in errs:
        if loc in explained:
            continue
        text = _describe(err, model)
        if err["type"] == "extra_forbidden" and loc:
            twins = [m for m in missing if m[:-1] == loc[:-1]]
            close = difflib.get_close_matches(str(loc[-1]), [str(m[-1]) for m in twins], n=1, cutoff=0.6)
            if close:
                explained.add(loc[:-1] + (close[0],))
                text = f"unknown field {str(loc[-1])!r}; did you mean '{close[0]}'? (a required field)"
        field = ".".join(str(p) for p in loc) or "(top)"
        out.append((loc, field, f"{field}: {text}"))
    out = [o for o in out if o[0] not in explained]
    first = _error(out[0][2], out[0][0], lines, source, out[0][1])
    more = [str(_error(msg, loc, lines, source, field)) for loc, field, msg in out[1:]]
    return ScenarioError(str(first), more=more, field=out[0][1]) if more else first


def _refuse_passwords(data: dict, source: str, lines: dict) -> None:
    """A password in a scenario file would end up in version control and in reports."""
    dut = data.get("dut")
    if not isinstance(dut, dict):
        return
    for key in dut:
        if "pass" in str(key).lower() and key != "password_env":
            raise _error(f"dut.{key}: passwords are never read from scenario files; put the password in "
                         "an environment variable named by dut.password_env, or use --ask-dut-password",
                         ("dut", key), lines, source, f"dut.{key}")


def _fill_from_lab(data: dict, source: str, lines: dict, lab_reader: LabReader | None) -> dict:
    """Endpoints (Drones, port names, DUT SSH) from the running built-in lab named by ``lab:``."""
    prefix, two, nat = data["lab"], False, None
    if isinstance(prefix, dict):
        unknown = set(prefix) - {"prefix", "two_drones", "nat"}
        if unknown:
            raise _error(f"lab.{sorted(unknown)[0]}: unknown field (use prefix, two_drones, nat)",
                         ("lab", sorted(unknown)[0]), lines, source, "lab")
        prefix, two, nat = prefix.get("prefix", "ostcp"), bool(prefix.get("two_drones", False)), prefix.get("nat")
    if not isinstance(prefix, str) or not re.match(LAB_PREFIX_RE, prefix):
        raise _error(f"lab: not a lab prefix (got {prefix!r})", ("lab",), lines, source, "lab")
    hint = "" if prefix == "ostcp" else f" --prefix {prefix}"
    eps = lab_reader(prefix) if lab_reader else None
    if eps is None:
        raise _error(f"lab: the built-in lab '{prefix}' is not up; run 'ostinato-tcp lab up{hint}' first", ("lab",),
                     lines, source, "lab")
    a, b, ssh = eps["drone_a"], eps["drone_b"], eps["ssh"]
    if two and b["host"] == a["host"]:
        raise _error(f"lab: this scenario puts port B on a second Drone, but lab '{prefix}' has one; run "
                     f"'ostinato-tcp lab up --two-drones{hint}'", ("lab",), lines, source, "lab")
    if nat and eps["dut"]["nat"] != nat:
        raise _error(f"lab: this scenario needs the lab's DUT to NAT ({nat}), but lab '{prefix}' has "
                     f"{eps['dut']['nat'] or 'no NAT'}; run 'ostinato-tcp lab up --nat {nat}{hint}'", ("lab",), lines,
                     source, "lab")
    if not eps["dut"].get("ipv6") and _mentions_ipv6(data):
        raise _error(f"lab: this scenario uses IPv6 addresses, but lab '{prefix}' has no IPv6 on its test links; run "
                     f"'ostinato-tcp lab up --ipv6{hint}'", ("lab",), lines, source, "lab")
    out = dict(data)
    out["lab"] = prefix
    drones = {"lab-a": {"host": a["host"], "port": a["port"]}}
    two = b["host"] != a["host"]
    if two:
        drones["lab-b"] = {"host": b["host"], "port": b["port"]}
    out["drones"] = drones
    if isinstance(data.get("ports"), list):
        out["ports"] = _fill_pairs(data["ports"], eps, drones, prefix, hint, lines, source)
    else:
        ports = {k: dict(v) for k, v in (data.get("ports") or {}).items()} if isinstance(data.get("ports"), dict) else {}
        for side, ep, dname in (("a", a, "lab-a"), ("b", b, "lab-b" if two else "lab-a")):
            p = dict(ports.get(side) or {})
            p["drone"] = dname
            p["interface"] = ep["port_name"]
            p.pop("port_id", None)
            ports[side] = p
        out["ports"] = ports
    dut = dict(data.get("dut") or {}) if isinstance(data.get("dut"), dict) else {}
    if eps["dut"].get("kind") == "none":  # a lab DUT with no login: the traffic proof alone
        dut.setdefault("kind", "none")
        out["dut"] = dut
        return out
    dut.update(host=ssh["host"], port=ssh["port"], key_file=ssh["key_file"], known_hosts=ssh["known_hosts"])
    dut.setdefault("user", ssh["user"])
    if eps["dut"].get("netns"):  # the lab's DUT forwards in a namespace of its own
        dut["netns"] = eps["dut"]["netns"]
    if eps["dut"].get("kind") == "procfs":  # a lab DUT read through /proc deletes nothing
        dut.setdefault("clear", "none")
        dut.setdefault("clear_after", "none")
    if eps["dut"].get("ovs"):  # a lab DUT whose conntrack is Open vSwitch's: its socket and zone
        dut.setdefault("ovs", dict(eps["dut"]["ovs"]))
    out["dut"] = dut
    return out


def _mentions_ipv6(data: dict) -> bool:
    """Whether scenario data asks for IPv6 addresses (connections or any port pair)."""
    c = data.get("connections") if isinstance(data.get("connections"), dict) else {}
    pairs = data.get("ports") if isinstance(data.get("ports"), list) else []
    return any(":" in str(x) for x in [c.get("client_ip", "")] + [p.get("client_ip", "") for p in pairs
                                                                  if isinstance(p, dict)])


def _fill_pairs(pairs: list, eps: dict, drones: dict, prefix: str, hint: str, lines: dict, source: str) -> list:
    """The port pairs of a ``lab:`` scenario from the lab's pairs (``lab up --pairs K``)."""
    lab_pairs = eps.get("pairs") or []
    if len(pairs) > len(lab_pairs):
        raise _error(f"ports: this scenario lists {len(pairs)} port pairs, but lab '{prefix}' has {len(lab_pairs) or 1}; "
                     f"run 'ostinato-tcp lab up --pairs {len(pairs)}{hint}'", ("ports",), lines, source, "ports")
    out = []
    for i, (item, lp) in enumerate(zip(pairs, lab_pairs)):
        item = dict(item) if isinstance(item, dict) else {}
        name = "lab-a" if lp["drone"]["host"] == drones["lab-a"]["host"] else f"lab-p{i + 1}"
        drones.setdefault(name, {"host": lp["drone"]["host"], "port": lp["drone"]["port"]})
        for side, port_name in (("a", lp["port_a"]), ("b", lp["port_b"])):
            p = dict(item.get(side) or {})
            p.update(drone=name, interface=port_name)
            p.pop("port_id", None)
            item[side] = p
        if i > 0:
            item.setdefault("client_ip", lp["client_ip"])
            item.setdefault("server_ip", lp["server_ip"])
        out.append(item)
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


INVENTORY_KEYS = ("drones", "ports", "dut", "lab")  # what a lab file may hold


def _merge(under: dict, over: dict) -> dict:
    """``over`` on top of ``under``, mappings merged key by key."""
    out = dict(under)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _with_inventory(data: dict, lines: dict, path: Path) -> tuple[dict, dict, str]:
    """A profile on top of a lab file (drones, ports, devices, DUT): every value's line is kept,
    the lab file's as (file, line) pairs."""
    text = _read_text(path)
    inv, inv_lines = _parse_text(text, str(path))
    if not isinstance(inv, dict):
        raise ScenarioError("a lab file must hold a mapping (drones, ports, dut) at the top", file=str(path), line=1)
    for key in inv:
        if key not in INVENTORY_KEYS:
            raise ScenarioError(f"{key}: a lab file holds only {', '.join(INVENTORY_KEYS)}; '{key}' belongs in the "
                                "test profile", file=str(path), line=inv_lines.get((key,)), field=key)
    merged_lines = {loc: (str(path), line) for loc, line in inv_lines.items() if loc}
    merged_lines.update({loc: line for loc, line in lines.items() if loc})
    merged_lines[()] = lines.get((), 1)
    return _merge(inv, data), merged_lines, text


def parse_set(option: str) -> tuple[str, Any]:
    """``dotted.key=value`` (the value read as YAML: 5, 0.5, true, auto, [1, 2]) -> (path, value)."""
    path, sep, raw = option.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*", path):
        raise ScenarioError(f"not a dotted.key=value (got {option!r})", file="--set")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path, value


def _with_sets(data: dict, lines: dict, sets: list[str]) -> tuple[dict, dict]:
    for option in sets:
        path, value = parse_set(option)
        data = with_changes(data, {path: value})
        lines[tuple(path.split("."))] = (f"--set {option}", None)
    return data, lines


def read_scenario_data(path: str | Path, *, lab_file: str | Path | None = None,
                       sets: list[str] | None = None) -> tuple[Any, dict, list[str]]:
    """(data, line of every key path, texts read) of a scenario file before validation: a test
    profile merged onto its lab file (``lab_file``, or the file's ``lab_file:`` relative to it),
    then the ``sets`` (``dotted.key=value``) applied."""
    path = Path(path)
    text = _read_text(path)
    data, lines = _parse_text(text, str(path))
    texts = [text]
    if isinstance(data, dict):
        data = dict(data)
        named = data.pop("lab_file", None)
        inventory = Path(lab_file) if lab_file else (path.parent / str(named) if named else None)
        if inventory is not None:
            data, lines, inv_text = _with_inventory(data, lines, inventory)
            texts.append(inv_text)
        if sets:
            data, lines = _with_sets(data, lines, list(sets))
            texts.extend(sets)
    return data, lines, texts


def load_scenario(path: str | Path, *, lab: str | None = None, lab_reader: LabReader | None = None,
                  lab_file: str | Path | None = None, sets: list[str] | None = None) -> Scenario:
    """Read and validate a scenario file. ``lab`` takes the endpoints from that built-in lab;
    ``lab_file`` (or the file's ``lab_file:``, relative to it) is a lab file the scenario is a
    test profile for; ``sets`` are ``dotted.key=value`` changes, validated like the file."""
    data, lines, texts = read_scenario_data(path, lab_file=lab_file, sets=sets)
    sc = scenario_from_data(data, source=str(path), lines=lines, lab=lab, lab_reader=lab_reader)
    digest = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
    return sc.model_copy(update={"source": str(path), "content_hash": digest})


def scenario_from_text(text: str, *, source: str = "<scenario>", lab: str | None = None,
                       lab_reader: LabReader | None = None) -> Scenario:
    """Validate scenario YAML text; every error is a :class:`ScenarioError` naming the line."""
    data, lines = _parse_text(text, source)
    sc = scenario_from_data(data, source=source, lines=lines, lab=lab, lab_reader=lab_reader)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return sc.model_copy(update={"source": source, "content_hash": digest})


def changed(sc: Scenario, changes: dict[str, Any]) -> Scenario:
    """``sc`` with values set at dotted paths, validated like a file (None removes a key)."""
    data = with_changes(sc.resolved(), changes)
    data.pop("lab", None)  # the lab's endpoints are filled in already
    lines = {tuple(k.split(".")): ("with_changes", None) for k in changes}
    out = scenario_from_data(data, source=f"{sc.source or sc.name} with changes", lines=lines)
    digest = hashlib.sha256(f"{sc.content_hash}{sorted(changes.items())!r}".encode()).hexdigest()[:16]
    return out.model_copy(update={"source": sc.source, "content_hash": digest})


install_changes_hook(changed)
