"""One parameter mechanism for every node: a configuration dataclass becomes ROS parameters.

``ParameterHandler`` declares each setting of a core configuration dataclass
(``core/config.py``: default, description, range, dynamic or static) as a ROS parameter with a
descriptor users see in ``ros2 param describe``, builds the validated configuration from the
values the node was started with, and takes ``ros2 param set`` at run time: a static setting
is refused with the reason, an invalid value is refused with the field's own validation
message, a valid change of dynamic settings is accepted all together (or not at all) and handed
to the node, which applies it at its next cycle. nav2's ``ParametersHandler`` is the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.node import Node

from world_model_ros.core.config import (
    ConfigError,
    SettingInfo,
    changed_settings,
    from_mapping,
    replace_flat,
    settings_of,
)

C = TypeVar("C")

STATIC_REASON = "it is fixed when the node starts (model, topics, buffers): restart the node"
_ARRAY_TYPES = {tuple: ParameterType.PARAMETER_STRING_ARRAY}


def describe(
    description: str,
    bounds: tuple[float, float] | None,
    default: object,
    read_only: bool = False,
) -> ParameterDescriptor:
    """A descriptor with ``bounds`` as an integer or floating-point range, chosen by
    ``default``'s type."""
    descriptor = ParameterDescriptor(description=description, read_only=read_only)
    if bounds is not None and isinstance(default, int) and not isinstance(default, bool):
        descriptor.integer_range = [
            IntegerRange(from_value=int(bounds[0]), to_value=int(bounds[1]), step=1)
        ]
    elif bounds is not None and isinstance(default, float):
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=float(bounds[0]), to_value=float(bounds[1]), step=0.0)
        ]
    return descriptor


def _descriptor(info: SettingInfo) -> ParameterDescriptor:
    text = info.description
    if info.choices:
        text += f" [one of: {', '.join(info.choices)}]"
    text += " [dynamic: next cycle]" if info.dynamic else " [static: needs a restart]"
    # A one-sided range is still a range in ROS: the open side gets the type's extreme.
    bounds = None
    if info.low is not None or info.high is not None:
        big = 2**62 if info.kind is int else 1e300
        bounds = (
            info.low if info.low is not None else -big,
            info.high if info.high is not None else big,
        )
    descriptor = describe(text, bounds, info.default)
    if info.kind in _ARRAY_TYPES:
        descriptor.type = _ARRAY_TYPES[info.kind]
    return descriptor


class ParameterHandler(Generic[C]):
    """The node's configuration of type ``config_type``, declared, validated and kept current.

    ``check(config) -> reason | None`` adds checks that need the node's state (a horizon the
    loaded model can roll out); ``on_change(config, changed_names)`` is called on the executor
    thread after a change was accepted. A control loop on another thread calls
    :meth:`take_changes` at the start of each cycle instead.
    """

    def __init__(
        self,
        node: Node,
        config_type: type[C],
        *,
        check: Callable[[C], str | None] | None = None,
        on_change: Callable[[C, set[str]], None] | None = None,
        static_reason: str = STATIC_REASON,
    ):
        self._node = node
        self._type = config_type
        self._infos = {info.name: info for info in settings_of(config_type)}
        self._check = check
        self._on_change = on_change
        self._static_reason = static_reason
        self._lock = threading.Lock()
        self._changed: set[str] = set()
        self.allow_static = False  # a lifecycle node before configure takes every change
        where = f"parameters of {node.get_fully_qualified_name()}"
        values = {}
        for name, info in self._infos.items():
            if info.optional:
                raise TypeError(f"setting '{name}' is optional: ROS parameters cannot be None")
            default = list(info.default) if isinstance(info.default, tuple) else info.default
            try:
                values[name] = node.declare_parameter(name, default, _descriptor(info)).value
            except Exception as exc:  # rclpy: InvalidParameterValueException and friends
                expected = {
                    bool: "a boolean",
                    int: "an integer",
                    float: "a float (1.0, not 1)",
                    str: "a string",
                    tuple: "a list of strings",
                }[info.kind]
                if info.low is not None or info.high is not None:
                    expected += f" in [{info.low}, {info.high}]"
                raise ConfigError(
                    f"parameter '{name}' is invalid ({expected} expected): {exc}"
                ) from None
        self._config: C = from_mapping(config_type, values, where)
        node.add_on_set_parameters_callback(self._on_set)

    @property
    def config(self) -> C:
        with self._lock:
            return self._config

    @property
    def settings(self) -> dict[str, SettingInfo]:
        return dict(self._infos)

    def take_changes(self) -> tuple[C, set[str]]:
        """The current configuration and the names changed since the last call (then cleared)."""
        with self._lock:
            changed, self._changed = self._changed, set()
            return self._config, changed

    def _on_set(self, params) -> SetParametersResult:
        ours = {p.name: p.value for p in params if p.name in self._infos}
        if not ours:
            return SetParametersResult(successful=True)
        static = sorted(n for n in ours if not self._infos[n].dynamic)
        if static and not self.allow_static:
            names = ", ".join(f"'{n}'" for n in static)
            return SetParametersResult(
                successful=False,
                reason=f"parameter {names} cannot change at run time: {self._static_reason}",
            )
        values = {n: list(v) if isinstance(v, (list, tuple)) else v for n, v in ours.items()}
        try:
            new = replace_flat(self.config, values)
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if self._check is not None:
            problem = self._check(new)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        with self._lock:
            changed = changed_settings(self._config, new)
            self._config = new
            self._changed |= changed
        if changed:
            self._node.get_logger().info(
                "parameters changed: " + ", ".join(f"{n}={values[n]!r}" for n in sorted(changed))
            )
            if self._on_change is not None:
                self._on_change(new, changed)
        return SetParametersResult(successful=True)
