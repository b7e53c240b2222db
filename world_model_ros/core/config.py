"""Configuration dataclasses that describe themselves: one declaration per setting.

Every setting of the package is a field of a frozen dataclass, declared with :func:`setting`:
its default, a description, its range or choices, and whether it may change while a node runs
(``dynamic``). From that one declaration come the ROS parameters of the nodes (with
descriptions and ranges, ``nodes/parameters.py``), the validation of YAML files the CLI reads
(:func:`from_mapping`: unknown keys and wrong types are errors naming the key) and the checks
of values set at run time (the field's own message). nav2's ``ParametersHandler`` does the
same job for its controller; here the dataclass is the single source, so a parameter cannot
be declared in one place and validated (or forgotten) in another.

Nested dataclasses group settings: their fields are named ``<field>.<name>``
(``costs.goal_weight``) unless the nested field is declared ``flatten=True``, when its fields
keep their own names. No rclpy here.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import types
import typing
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the setting and where it came from."""


def setting(
    default: Any = MISSING,
    description: str = "",
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] | None = None,
    dynamic: bool = True,
    default_factory: Any = MISSING,
    flatten: bool = False,
) -> Any:
    """A dataclass field with what a user needs to know about it.

    ``low``/``high`` bound numbers (inclusive), ``choices`` lists the allowed strings (or, for a
    tuple of strings, the allowed items), ``dynamic`` says whether a running node applies a
    change at its next cycle (False: refused at run time with the reason). A nested
    configuration is a ``setting(default_factory=..., flatten=...)``.
    """
    metadata = {
        "description": description,
        "low": low,
        "high": high,
        "choices": choices,
        "dynamic": dynamic,
        "flatten": flatten,
    }
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class SettingInfo:
    """One leaf setting: its flat name, the path of field names to it, and its declaration."""

    name: str
    path: tuple[str, ...]
    kind: type  # bool, int, float, str or tuple (of str)
    optional: bool  # None is allowed (e.g. an unset seed)
    default: Any
    description: str
    low: float | None
    high: float | None
    choices: tuple[str, ...] | None
    dynamic: bool


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _kind(hint: Any) -> tuple[Any, bool]:
    """(base type, optional) of a field's annotation."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return _kind(args[0])[0], True
    if origin is tuple:
        return tuple, False
    return hint, False


def settings_of(cls: type, prefix: str = "", path: tuple[str, ...] = ()) -> list[SettingInfo]:
    """Every leaf setting of the dataclass ``cls`` (nested groups expanded), in order."""
    return list(_settings_of(cls, prefix, path))


@functools.lru_cache(maxsize=None)
def _settings_of(cls: type, prefix: str, path: tuple[str, ...]) -> tuple[SettingInfo, ...]:
    hints = _hints(cls)
    out: list[SettingInfo] = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        kind, optional = _kind(hints[f.name])
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            child_prefix = prefix if meta.get("flatten") else f"{prefix}{f.name}."
            out.extend(_settings_of(kind, child_prefix, (*path, f.name)))
            continue
        default = f.default
        if default is MISSING and callable(f.default_factory):
            default = f.default_factory()
        out.append(
            SettingInfo(
                name=prefix + f.name,
                path=(*path, f.name),
                kind=kind,
                optional=optional,
                default=default,
                description=meta.get("description", ""),
                low=meta.get("low"),
                high=meta.get("high"),
                choices=meta.get("choices"),
                dynamic=meta.get("dynamic", True),
            )
        )
    return tuple(out)


def _describe_type(kind: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        kind, "a list of strings"
    )


def coerce(info: SettingInfo, value: Any, where: str = "") -> Any:
    """``value`` as the setting's type, or ConfigError naming the setting and ``where``.

    Integers are accepted for floats (YAML and ROS write 1 for 1.0); nothing else is converted:
    ``"many"`` for an integer or ``1`` for a boolean is an error, not a guess.
    """
    label = f"{where}: " if where else ""
    if value is None and info.optional:
        return None
    kind = info.kind
    ok = False
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind is str:
        ok = isinstance(value, str)
    elif kind is tuple:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    if not ok:
        raise ConfigError(
            f"{label}'{info.name}' must be {_describe_type(kind)}; got {value!r} "
            f"({type(value).__name__})"
        )
    return value


def check_value(info: SettingInfo, value: Any) -> str | None:
    """Why ``value`` is out of the setting's declared range or choices; None when it is fine."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"'{info.name}' must be finite; got {value}"
    if info.low is not None and value < info.low:
        return f"'{info.name}' must be >= {info.low:g}; got {value}"
    if info.high is not None and value > info.high:
        return f"'{info.name}' must be <= {info.high:g}; got {value}"
    if info.choices is not None:
        items = value if isinstance(value, tuple) else (value,)
        bad = [v for v in items if v not in info.choices]
        if bad:
            return f"'{info.name}' must be one of {', '.join(info.choices)}; got {', '.join(bad)}"
    return None


def validate_settings(obj: Any) -> None:
    """Check every direct (non-nested) field of ``obj`` against its declaration; raise
    ConfigError listing all problems. Dataclasses call this from ``__post_init__`` (nested
    groups check themselves when built)."""
    problems = []
    for info in settings_of(type(obj)):
        if len(info.path) != 1:
            continue
        value = getattr(obj, info.path[0])
        try:
            value = coerce(info, value)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        object.__setattr__(obj, info.path[0], value)  # 1 -> 1.0, list -> tuple
        problem = check_value(info, value)
        if problem:
            problems.append(problem)
    if problems:
        raise ConfigError(f"invalid {type(obj).__name__}: " + "; ".join(problems))


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{'a.b': 1, 'c': 2} -> {'a': {'b': 1}, 'c': 2} (nested mappings are kept)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = str(key).split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"'{key}' mixes a value and a group of settings")
        if isinstance(value, dict):
            node.setdefault(parts[-1], {}).update(_nest(value))
        else:
            node[parts[-1]] = value
    return out


def from_mapping(cls: type[C], values: dict[str, Any] | None, where: str = "") -> C:
    """Build ``cls`` from a (possibly nested, possibly dotted) mapping such as a YAML file.

    Unknown keys and values of the wrong type are ConfigErrors naming the key and ``where``;
    missing keys take their defaults; the dataclasses' own checks run as they are built.
    """
    flat: dict[tuple[str, ...], Any] = {}
    infos = {info.name: info for info in settings_of(cls)}

    def walk(mapping: dict[str, Any], prefix: str) -> None:
        for key, value in mapping.items():
            name = prefix + str(key)
            if isinstance(value, dict) and name not in infos:
                walk(value, name + ".")
                continue
            info = infos.get(name)
            if info is None:
                close = difflib.get_close_matches(name, list(infos), n=3)
                hint = f"did you mean {' or '.join(close)}?" if close else "see the docs' table"
                raise ConfigError(
                    f"{where + ': ' if where else ''}unknown setting '{name}' ({hint})"
                )
            flat[info.path] = coerce(info, value, where)

    walk(_nest(dict(values or {})), "")
    try:
        return _build(cls, flat, ())
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where + ': ' if where else ''}{exc}") from None


def _build(cls: type, flat: dict[tuple[str, ...], Any], path: tuple[str, ...]) -> Any:
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        kind, _ = _kind(hints[f.name])
        here = (*path, f.name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            kwargs[f.name] = _build(kind, flat, here)
        elif here in flat:
            kwargs[f.name] = flat[here]
    return cls(**kwargs)


def check_plain_mapping(cls: type, values: Any, where: str = "", prefix: str = "") -> None:
    """ConfigError naming the first unknown key, or value of the wrong type, in ``values`` for
    the plain dataclass ``cls`` (fields without :func:`setting`; nested dataclasses are checked
    under ``<field>.``). For configurations older than ``setting``, such as training's: a YAML
    typo then names the key instead of failing later with "'<' not supported"."""
    label = f"{where}: " if where else ""
    if not isinstance(values, dict):
        what = f"'{prefix.rstrip('.')}'" if prefix else "the top level"
        raise ConfigError(f"{label}{what} must be a mapping of settings; got {values!r}")
    hints = _hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=3)
            hint = f" (did you mean {' or '.join(prefix + c for c in close)}?)" if close else ""
            raise ConfigError(f"{label}unknown setting '{name}'{hint}")
        kind, optional = _kind(hints[key])
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            check_plain_mapping(kind, value, where, f"{name}.")
            continue
        if value is None and optional:
            continue
        item = typing.get_args(hints[key])[:1] if kind is tuple else ()
        info = SettingInfo(name, (key,), kind, optional, None, "", None, None, None, True)
        if kind is tuple and item and item[0] in (int, float):
            ok = isinstance(value, (list, tuple)) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
            )
            if not ok:
                raise ConfigError(f"{label}'{name}' must be a list of numbers; got {value!r}")
        elif kind in (bool, int, float, str, tuple):
            coerce(info, value, where)


def to_flat(obj: Any) -> dict[str, Any]:
    """{flat name: value} of every leaf setting of the dataclass instance ``obj``."""
    out = {}
    for info in settings_of(type(obj)):
        value = obj
        for part in info.path:
            value = getattr(value, part)
        out[info.name] = value
    return out


def replace_flat(obj: C, changes: dict[str, Any], where: str = "") -> C:
    """A copy of ``obj`` with the flat-named ``changes`` applied and every check run again."""
    values = to_flat(obj)
    unknown = sorted(set(changes) - set(values))
    if unknown:
        raise ConfigError(
            f"{where + ': ' if where else ''}unknown setting(s) {', '.join(unknown)}"
        )
    values.update(changes)
    return from_mapping(type(obj), values, where)


def changed_settings(old: Any, new: Any) -> set[str]:
    """Flat names whose values differ between two instances of one configuration class."""
    a, b = to_flat(old), to_flat(new)
    return {name for name in a if a[name] != b[name]}


def read_ros_parameters(path: str | Path, node_name: str) -> dict[str, Any]:
    """The ``ros__parameters`` mapping of ``node_name`` in a ROS 2 parameter file.

    The section may be keyed by the node's name, ``/**/<name>`` or a namespaced name; a file
    with a single section is taken as is. Errors name the file and what is wrong.
    """
    import yaml

    try:
        document = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected '<node>: ros__parameters:' sections")
    sections = {
        key: value["ros__parameters"]
        for key, value in document.items()
        if isinstance(value, dict) and "ros__parameters" in value
    }
    mine = [v for k, v in sections.items() if str(k).rstrip("/").split("/")[-1] == node_name]
    if len(mine) != 1 and len(sections) == 1:
        mine = list(sections.values())
    if len(mine) != 1:
        raise ConfigError(
            f"{path}: no single '{node_name}: ros__parameters:' section (found: "
            f"{', '.join(map(str, sections)) or 'none'})"
        )
    if not isinstance(mine[0], dict):
        raise ConfigError(f"{path}: ros__parameters of {node_name} is not a mapping")
    return dict(mine[0])
