"""Randomised robot descriptions: the bodies and cameras a multi-robot base is trained on.

Why: a model fine-tuned on twenty minutes of one new robot's driving can learn only what
those twenty minutes show. Started from a model that has already driven many bodies behind
many cameras (low and high, level and tilted, narrow and wide, square and 16:9), it has to
learn the new robot's numbers, not what a camera's view of a box means for a body of some
size. This is domain randomisation (Tobin et al. 2017) applied to the robot rather than to
the world.

What varies, per robot, independently:

* the body, along one size axis ``t`` drawn uniformly from -0.3 to 1.3 between two anchor
  bases (a light 0.12 m, 2.5 kg one at 0 and a heavy 0.22 m, 8 kg one at 1; geometric
  interpolation, so the wheels, mass, torques and servo gains stay in proportion and the
  simulated base drives like a real one); the wheel track is kept inside the footprint;
* the speed and acceleration limits, from the same axis, each times 0.8-1.2;
* the camera: mount height 0.07-0.55 m, 0.3-0.9 of the radius ahead of the centre, pitch
  0-28 degrees down, vertical field of view 42-75 degrees, one of ten resolutions from 64x64 to
  160x120 (1:1, 4:3, 16:9), any of the four colour encodings.

No LiDAR and no bumper: the base is a camera model (the LiDAR input is the adapted robot's
own, zero-started at adaptation, docs/any_robot.md). The same seed gives the same robots.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import yaml

from .robots import RobotDescription, robot_from_dict

# The two bases the size axis runs through (t = 0 and t = 1): wheel and body numbers that
# drive well together in the simulator.
LIGHT_BASE = {
    "radius_m": 0.12,
    "height_m": 0.07,
    "wheel_base_m": 0.20,
    "wheel_radius_m": 0.035,
    "mass_kg": 2.5,
    "wheel_max_torque_nm": 0.3,
    "wheel_max_speed_radps": 18.0,
    "wheel_gain_nm_per_radps": 0.3,
    "max_linear_mps": 0.5,
    "max_angular_radps": 2.5,
    "max_linear_accel_mps2": 1.5,
    "max_angular_accel_radps2": 6.0,
}
HEAVY_BASE = {
    "radius_m": 0.22,
    "height_m": 0.15,
    "wheel_base_m": 0.40,
    "wheel_radius_m": 0.06,
    "mass_kg": 8.0,
    "wheel_max_torque_nm": 2.0,
    "wheel_max_speed_radps": 10.0,
    "wheel_gain_nm_per_radps": 0.8,
    "max_linear_mps": 0.4,
    "max_angular_radps": 1.5,
    "max_linear_accel_mps2": 0.6,
    "max_angular_accel_radps2": 2.5,
}
SIZE_RANGE = (-0.3, 1.3)
RESOLUTIONS = (
    (64, 64),
    (96, 72),
    (128, 72),
    (160, 120),
    (120, 90),
    (128, 96),
    (160, 90),
    (80, 60),
    (96, 96),
    (112, 63),
)
ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8")
WHEELS = (
    "wheel_base_m",
    "wheel_radius_m",
    "mass_kg",
    "wheel_max_torque_nm",
    "wheel_max_speed_radps",
    "wheel_gain_nm_per_radps",
)
LIMITS = (
    "max_linear_mps",
    "max_angular_radps",
    "max_linear_accel_mps2",
    "max_angular_accel_radps2",
)


def random_robot_values(rng: random.Random, name: str) -> dict[str, Any]:
    """One robot file's values (see the module docstring for what is drawn)."""
    t = rng.uniform(*SIZE_RANGE)

    def along(key: str) -> float:  # geometric interpolation between the anchors
        low, high = math.log(LIGHT_BASE[key]), math.log(HEAVY_BASE[key])
        return math.exp(low + t * (high - low))

    radius = max(0.08, along("radius_m"))
    base: dict[str, float] = {key: round(max(1e-3, along(key)), 4) for key in WHEELS}
    base["wheel_base_m"] = round(min(base["wheel_base_m"], 2 * radius * 0.95), 4)
    base["com_forward_m"] = 0.0
    limits = {key: round(along(key) * rng.uniform(0.8, 1.2), 3) for key in LIMITS}
    width, height = rng.choice(RESOLUTIONS)
    camera = {
        "height_m": round(rng.uniform(0.07, 0.55), 3),
        "forward_m": round(rng.uniform(0.3, 0.9) * radius, 3),
        "pitch_deg": round(rng.uniform(0.0, 28.0), 1),
        "fovy_deg": round(rng.uniform(42.0, 75.0), 1),
        "width": width,
        "height": height,
        "encoding": rng.choice(ENCODINGS),
        "rate_hz": 15.0,
    }
    return {
        "name": name,
        "description": "randomised body and camera for a multi-robot base",
        "footprint": {
            "radius_m": round(radius, 3),
            "height_m": round(max(0.05, along("height_m")), 3),
        },
        "base": base,
        "limits": limits,
        "camera": camera,
        "lidar": None,
        "bumper": False,
        "cmd_vel_stamped": rng.random() < 0.5,
    }


def write_random_robots(
    folder: Path, count: int, seed: int
) -> list[tuple[Path, RobotDescription]]:
    """Write ``count`` robot files ``rand00.yaml``... into ``folder`` (checked as any robot file
    is); returns each path with its loaded description."""
    if count < 1:
        raise ValueError(f"need at least one robot (got {count})")
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    robots = []
    for index in range(count):
        values = random_robot_values(rng, f"rand{index:02d}")
        path = folder / f"{values['name']}.yaml"
        robot = robot_from_dict(values, str(path))  # a draw the simulator cannot build fails here
        path.write_text(yaml.safe_dump(values, sort_keys=False))
        robots.append((path, robot))
    return robots
