"""Dataclass configs parsed and validated at the edge (CLI, YAML files, recipes).

:func:`from_dict` turns a plain dict (from YAML or the command line) into a dataclass, checking
every key and type and collecting *all* problems before raising one :class:`ConfigError`. Range
checks live in each dataclass's ``validate()`` method, which returns a list of problems; a class attribute
``RENAMED = {"old": "new"}`` turns an old setting name into a message naming the new one, and ``HINTS = {"name":
"sentence with {value}"}`` answers a setting the class does not take with what to do instead.

>>> from dataclasses import dataclass
>>> @dataclass
... class Opt:
...     lr: float = 0.1
...     epochs: int = 1
...     def validate(self):
...         return ["lr must be > 0"] if self.lr <= 0 else []
>>> from_dict(Opt, {"lr": 0.5}).lr
0.5
>>> from_dict(Opt, {"lr": "x"})
Traceback (most recent call last):
...
torchshrink.errors.ConfigError: lr: expected a number, got 'x'
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Iterable, TypeVar, Union, get_args, get_origin

import yaml

from .errors import ConfigError, suggest

C = TypeVar("C")


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if tp in names:
        return names[tp]
    origin = get_origin(tp)
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _convert(tp: Any, value: Any, where: str, problems: list[str]) -> Any:
    """Convert ``value`` to type ``tp`` or record a problem; returns the converted value."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            sub: list[str] = []
            out = _convert(a, value, where, sub)
            if not sub:
                return out
        problems.append(f"{where}: expected {' or '.join(_type_name(a) for a in args if a is not type(None))}, got {value!r}")
        return value
    if origin is typing.Literal:
        if value not in get_args(tp):
            problems.append(f"{where}: expected one of {', '.join(repr(a) for a in get_args(tp))}, got {value!r}{suggest(str(value), [str(a) for a in get_args(tp)])}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a mapping, got {value!r}")
            return value
        return _from_dict(tp, value, where + ".", problems)
    if origin in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            problems.append(f"{where}: expected a list, got {value!r}")
            return value
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                problems.append(f"{where}: expected a list of {len(args)} values, got {value!r}")
                return value
            return tuple(_convert(a, v, f"{where}[{i}]", problems) for i, (a, v) in enumerate(zip(args, value)))
        inner = args[0] if args else Any
        out = [_convert(inner, v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a mapping, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                return int(value)
            problems.append(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{where}: expected a number, got {value!r}")
            return value
        try:
            out = float(value)
        except OverflowError:
            out = math.inf
        if not math.isfinite(out):
            problems.append(f"{where}: expected a finite number, got {value!r}; give a real value")
        return out
    if tp is str:
        if not isinstance(value, (str, Path)):
            problems.append(f"{where}: expected a string, got {value!r}")
        return str(value) if isinstance(value, Path) else value
    return value


def _from_dict(cls: type[C], data: dict, prefix: str, problems: list[str]) -> C:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    renamed, advice = getattr(cls, "RENAMED", {}), getattr(cls, "HINTS", {})
    for key, value in data.items():
        if key in advice and key not in fields:
            problems.append(f"{prefix}{key}: " + advice[key].format(value=value))
            continue
        if key in renamed and key not in fields:
            problems.append(f"{prefix}{key}: this setting is now called {renamed[key]!r}; write {renamed[key]}: "
                            f"{value!r} (see the setting's description)")
            continue
        if key not in fields:
            shown = key if isinstance(key, str) and key.isidentifier() else repr(key)  # one line, visible
            problems.append(
                f"{prefix}{shown}: unknown setting{suggest(str(key), fields)}; valid settings: {', '.join(fields)}"
            )
            continue
        kwargs[key] = _convert(hints[key], value, prefix + key, problems)
    missing = [n for n, f in fields.items() if f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING and n not in kwargs]  # type: ignore[misc]
    for n in missing:
        problems.append(f"{prefix}{n}: required setting is missing")
    if missing or any(p.startswith(prefix) for p in problems):
        return None  # type: ignore[return-value]
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        problems.extend(prefix + p for p in validate())
    return obj


def from_dict(cls: type[C], data: dict | None, collect: list[str] | None = None) -> C:
    """Build dataclass ``cls`` from ``data``, validating keys, types and ranges.

    All problems are gathered; they raise one :class:`ConfigError` (one line each) unless a
    ``collect`` list is given, in which case they are appended to it and the caller decides.
    """
    problems: list[str] = [] if collect is None else collect
    start = len(problems)
    if data is not None and not isinstance(data, dict):
        shown = repr(data) if len(repr(data)) <= 40 else repr(data)[:37] + "..."
        problems.append(f"expected a mapping of {cls.__name__} settings (e.g. {{'name': ...}}), got {shown}")
        if collect is None:
            raise ConfigError(problems[-1])
        return None  # type: ignore[return-value]
    obj = _from_dict(cls, dict(data or {}), "", problems)
    if collect is None and problems[start:]:
        raise ConfigError("\n".join(problems[start:]))
    return obj


_RANGE = re.compile(r"^\s*(?:(>=|>|<=|<)\s*(-?[\d.e+-]+)|([\[(])\s*(-?[\d.e+-]+)\s*,\s*(-?[\d.e+-]+)\s*([\])]))(.*)$")


def _inside(rule: str, v: float) -> bool:
    m = _RANGE.match(rule)
    if m is None:
        raise ValueError(f"bad range rule {rule!r}")
    op, x, lo_b, lo, hi, hi_b, _ = m.groups()
    if op:
        x = float(x)
        return {">=": v >= x, ">": v > x, "<=": v <= x, "<": v < x}[op]
    lo_ok = v >= float(lo) if lo_b == "[" else v > float(lo)
    hi_ok = v <= float(hi) if hi_b == "]" else v < float(hi)
    return lo_ok and hi_ok


def check_ranges(obj: Any, rules: dict[str, str]) -> list[str]:
    """One problem per setting of ``obj`` outside its range: ``{"epochs": ">= 1", "momentum": "[0, 1)"}``.

    A rule is a comparison (``>= 1``, ``> 0``) or an interval (``[0, 1)``, ``(0, 1]``), optionally followed by a
    note shown in the message (``">= 0 (0 = off)"``). The message is ``name: must be RULE, got VALUE``.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class S:
    ...     epochs: int = 0
    ...     momentum: float = 0.5
    ...     clip: float = -1.0
    >>> check_ranges(S(), {"epochs": ">= 1", "momentum": "[0, 1)", "clip": ">= 0 (0 = off)"})
    ['epochs: must be >= 1, got 0', 'clip: must be >= 0 (0 = off), got -1.0']
    """
    out = []
    for name, rule in rules.items():
        v = getattr(obj, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not _inside(rule, v):
            text = rule.strip()
            shown = ("in " + text) if text[0] in "[(" else text
            out.append(f"{name}: must be {shown}, got {v!r}")
    return out


def to_dict(obj: Any) -> dict:
    """A dataclass config as a plain dict (for YAML/JSON)."""
    return dataclasses.asdict(obj)


class DuplicateKey(yaml.YAMLError):
    """A mapping that gives one key twice (YAML would silently keep the last)."""

    def __init__(self, key: Any, first: int, again: int) -> None:
        super().__init__(f"the key {key!r} appears twice (lines {first} and {again})")
        self.key, self.first, self.again = key, first, again


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (merge keys ``<<`` may still be overridden).

    >>> yaml.load("a: 1\\nb: 2\\na: 3\\n", Loader=StrictLoader)
    Traceback (most recent call last):
    ...
    torchshrink.config.DuplicateKey: the key 'a' appears twice (lines 1 and 3)
    """


def _strict_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: SafeLoader says so itself
            continue
        if first is not None:
            raise DuplicateKey(key, first, key_node.start_mark.line + 1)
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (:class:`DuplicateKey`, a ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506  (a SafeLoader subclass)


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, with clear errors for a missing file, bad syntax or a key given twice."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {str(path)!r} is a folder; pass the YAML file inside it")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; check the path")
    try:
        data = parse_yaml(path.read_text())
    except UnicodeDecodeError:
        raise ConfigError(f"config file {str(path)!r} is not a text file (a model or checkpoint?); pass a YAML file") from None
    except DuplicateKey as e:
        raise ConfigError(f"config file {str(path)!r} gives the key {e.key!r} twice (lines {e.first} and {e.again}); "
                          "keep one of them (YAML would silently use the last)") from None
    except OSError as e:
        raise ConfigError(f"config file {str(path)!r} cannot be read ({e.strerror or type(e).__name__}); check the "
                          "path and its permissions") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {str(path)!r} is not valid YAML{where}; fix its syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of settings, not a {type(data).__name__}")
    return data


def apply_overrides(data: dict, overrides: Iterable[str]) -> dict:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a nested dict, returning a copy.

    >>> apply_overrides({"optim": {"lr": 0.1}}, ["optim.lr=0.05", "epochs=3"])
    {'optim': {'lr': 0.05}, 'epochs': 3}
    """
    import copy

    out = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. optim.lr=0.05)")
        key, raw = item.split("=", 1)
        if not key.strip() or any(not part.strip() for part in key.split(".")):
            raise ConfigError(f"override {item!r} has an empty setting name; write it as key.sub=value (e.g. optim.lr=0.05)")
        try:
            value = parse_yaml(raw)
        except DuplicateKey as e:
            raise ConfigError(f"override {item!r} gives the key {e.key!r} twice; keep one of them") from None
        except yaml.YAMLError:
            value = raw
        set_path(out, key.strip(), value)
    return out


def set_path(data: dict, key: str, value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for ``key="a.b"``, creating groups as needed (in place)."""
    node = data
    parts = key.split(".")
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"setting {key!r}: {p!r} holds the value {nxt!r}, not a group of settings; "
                              f"drop the setting that gives {p!r} a single value")
        node = nxt
    node[parts[-1]] = value
