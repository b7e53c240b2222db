"""What a checkpoint says about the robot it was trained for: the ``robot`` and ``camera``
sections of its config.json, and the accessor planners and nodes read them with.

Why: a model trained on one robot's bags predicts that robot's motion, its collision head and
occupancy head say where *that* footprint touches something, and its encoder expects *that*
camera. A planner that checks rollouts with another robot's radius, or a node fed by another
camera, gets predictions for the wrong body without noticing. So ``train`` (and ``adapt``)
write both sections and :func:`robot_of` reads them back:

    ``robot``: ``name``, ``footprint`` (core/data/camera.Footprint: kind, radius_m, length_m,
    width_m, circumscribed_radius_m, inscribed_radius_m), ``limits`` (speed and acceleration),
    ``source`` (robot file or "assumed");
    ``camera``: core/data/camera.CameraSpec (width, height, fovx_deg, fovy_deg, encoding,
    source) plus ``image_fit`` (how frames become the encoder's input).

A checkpoint without them (written before they existed) reads as unknown (None): callers keep
their own defaults and say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from ..data.camera import CameraSpec, Footprint


@dataclass(frozen=True)
class RobotLimits:
    """A base's speed and acceleration limits (a robot file's ``limits``; an adapted checkpoint
    records the ones its bags were driven within). A planner never asks for more."""

    max_linear_mps: float
    max_angular_radps: float
    max_linear_accel_mps2: float
    max_angular_accel_radps2: float

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        bad = [f"{name}={value!r}" for name, value in values.items() if not _positive(value)]
        if bad:
            raise ValueError(f"limits must be positive finite numbers: {', '.join(bad)}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "RobotLimits":
        names = {f.name for f in fields(cls)}
        if set(values) != names:
            missing, unknown = sorted(names - set(values)), sorted(set(values) - names)
            raise ValueError(
                "limits need exactly "
                + ", ".join(sorted(names))
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        return cls(**values)


def _positive(value: Any) -> bool:
    """A positive finite number (not a bool, which Python counts as an int)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value) and value > 0


@dataclass(frozen=True)
class CheckpointRobot:
    """The robot a checkpoint was trained for; any part may be unknown (None)."""

    name: str | None = None
    footprint: Footprint | None = None
    camera: CameraSpec | None = None
    limits: RobotLimits | None = None


def robot_sections(
    name: str | None,
    footprint: Footprint | None,
    camera: CameraSpec | None,
    image_fit: str,
    limits: dict[str, float] | None = None,
    source: str = "",
) -> dict[str, Any]:
    """The ``robot`` and ``camera`` sections to write into config.json (update_config)."""
    sections: dict[str, Any] = {}
    if footprint is not None or name is not None:
        sections["robot"] = {
            "name": name,
            "footprint": None if footprint is None else footprint.to_dict(),
            "limits": limits,
            "source": source,
        }
    if camera is not None:
        sections["camera"] = {**camera.to_dict(), "image_fit": image_fit}
    return sections


def robot_of(config: dict[str, Any]) -> CheckpointRobot:
    """The robot of a checkpoint's config.json (a dict, as ``load_checkpoint`` returns it).
    Raises ValueError naming the section when a section is present but malformed."""
    robot = config.get("robot") or {}
    camera = config.get("camera")
    try:
        footprint = (
            Footprint.from_dict(dict(robot["footprint"])) if robot.get("footprint") else None
        )
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"invalid robot.footprint section: {error}") from error
    try:
        spec = (
            CameraSpec.from_dict({k: v for k, v in camera.items() if k != "image_fit"})
            if camera
            else None
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"invalid camera section: {error}") from error
    try:
        limits = RobotLimits.from_dict(dict(robot["limits"])) if robot.get("limits") else None
    except (TypeError, ValueError) as error:
        raise ValueError(f"invalid robot.limits section: {error}") from error
    return CheckpointRobot(robot.get("name"), footprint, spec, limits)
