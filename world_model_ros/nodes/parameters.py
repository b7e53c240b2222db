"""Parameter descriptors shared by the nodes: one place that turns (description, bounds) into
the ROS ParameterDescriptor users see in ``ros2 param describe``."""

from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor


def describe(
    description: str, bounds: tuple[float, float] | None, default: object, read_only: bool = False
) -> ParameterDescriptor:
    """A descriptor with ``bounds`` as an integer or floating-point range, chosen by ``default``'s
    type."""
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
