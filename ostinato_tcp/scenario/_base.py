"""What the scenario model and its cross-field rules share (the lowest module of the package)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Union, get_args

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


def _number_field(annotation) -> bool:
    return annotation in (int, float) or any(_number_field(a) for a in get_args(annotation) if isinstance(a, type)
                                             or get_args(a))


def _admits_bool(annotation) -> bool:
    """Whether a field's type takes a boolean (bool itself, or a union or Annotated holding it)."""
    if annotation is bool or annotation is Any:
        return True
    return any(_admits_bool(a) for a in get_args(annotation) if not isinstance(a, (str, int, float)) or a is bool)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, v, info):
        # pydantic's lax mode reads true as 1: YAML's yes/no/on/off/true/false would become a count,
        # a port or a rate of 1 (or 0) without a word
        if isinstance(v, bool):
            annotation = cls.model_fields[info.field_name].annotation
            if not _admits_bool(annotation):
                raise ValueError(f"must be {'a number' if _number_field(annotation) else 'text'}, not the boolean "
                                 f"{str(v).lower()} (YAML reads yes, no, on, off, true and false as booleans)")
        return v
