"""What the scenario model and its cross-field rules share (the lowest module of the package)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

IPV6_MIN_FRAME = 78  # Ethernet 14 + IPv6 40 + TCP 20 + FCS 4
MAX_PAIRS = 16


class CrossFieldError(ValueError):
    """A check across fields; carries the path of the field to blame."""

    def __init__(self, loc: tuple, message: str):
        self.loc = loc
        super().__init__(message)


def _address_text(v):
    """An address is written as text: YAML's numbers and booleans (``5``, ``true``) would
    otherwise become 0.0.0.5 and 0.0.0.1."""
    if isinstance(v, (bool, int, float)):
        raise ValueError(f"must be an IP address written as text, e.g. 10.1.1.100 (got {v!r})")
    return v


IPv4 = Annotated[ipaddress.IPv4Address, BeforeValidator(_address_text)]
IP = Annotated[Union[ipaddress.IPv4Address, ipaddress.IPv6Address], BeforeValidator(_address_text)]  # IPv4 or IPv6


_YAML_BOOLS = "YAML reads yes, no, on, off, true and false as booleans"


def _no_bool(v):
    if isinstance(v, bool):
        raise ValueError(f"must be a number, not the boolean {str(v).lower()} ({_YAML_BOOLS})")
    return v


NumberInt = Annotated[int, BeforeValidator(_no_bool)]  # an int that YAML's true is not (a sweep's counts)
NumberFloat = Annotated[float, BeforeValidator(_no_bool)]


def _flat(annotation) -> list:
    """The types and literal values a field's annotation is made of (unions, Optional, Annotated,
    Literal and list unpacked one level at a time)."""
    args = get_args(annotation)
    if not args:
        return [annotation]
    if get_origin(annotation) is Literal:
        return list(args)
    if get_origin(annotation) in (list, dict, tuple):
        return [get_origin(annotation)]
    return [x for a in args for x in _flat(a)]


def _admits_bool(parts: list) -> bool:
    return any(p is bool or p is Any for p in parts)


def _expects(parts: list) -> str:
    """What a field takes, in words, for the message that refuses a boolean there."""
    said = ["a number"] if any(p in (int, float) for p in parts) else []
    said += [f"'{p}'" for p in parts if isinstance(p, str)]
    if any(p in (ipaddress.IPv4Address, ipaddress.IPv6Address) for p in parts):
        said.append("an IP address")
    if not said:
        said = ["text" if str in parts else "a list" if list in parts else
                "a section of key: value lines" if any(isinstance(p, type) and issubclass(p, BaseModel)
                                                      for p in parts) else "another value"]
    return " or ".join(said)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, v, info):
        # pydantic's lax mode reads true as 1: YAML's yes/no/on/off/true/false would become a count,
        # a port or a rate of 1 (or 0) without a word. Where the field's words include on/off
        # (traffic.batches: off), the boolean YAML made of them is taken as the word.
        if isinstance(v, bool):
            parts = _flat(cls.model_fields[info.field_name].annotation)
            if _admits_bool(parts):
                return v
            word = "on" if v else "off"
            if word in parts:
                return word
            quote = ": quote the word" if any(isinstance(p, str) for p in parts) else ""
            raise ValueError(f"must be {_expects(parts)}, not the boolean {str(v).lower()} ({_YAML_BOOLS}{quote})")
        return v
