"""Robot descriptions (``config/robots/<name>.yaml``): which differential-drive robot the
simulator builds, and what a checkpoint trained on that robot's bags should know about it.

A robot file names the footprint (a radius or a length x width rectangle centred on
base_link), the wheels, the speed and acceleration limits, the camera (mount height, pitch,
field of view, resolution, encoding) and optionally a 2D LiDAR and a front bumper. ``record``,
``sim_node`` and ``demo`` take ``--robot`` (a name under config/robots/ or a path); the file is
loaded once into :class:`RobotDescription` and checked: an unknown key or a bad value is a
one-line :class:`RobotFileError` naming the key and the file.

Why a file and not flags: a robot is a dozen numbers that must agree with each other (the
camera above the chassis, the wheels inside the footprint), and the same numbers go into the
simulator, the recorder's bags, the label derivation (speed limits) and the checkpoint
(footprint and camera) that a planner reads.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from ..core.data.camera import ENCODINGS, CameraSpec, Footprint

ROBOTS_DIR = Path(__file__).resolve().parent.parent.parent / "config" / "robots"
DEFAULT_ROBOT = "default"


class RobotFileError(ValueError):
    """A robot file that cannot be used; the one-line message names the file and the key."""


@dataclass(frozen=True)
class FootprintSpec:
    """Either ``radius_m`` or ``length_m`` + ``width_m`` (rectangle, centred on base_link)."""

    radius_m: float | None = None
    length_m: float | None = None
    width_m: float | None = None
    height_m: float = 0.09  # chassis height (collision body)


@dataclass(frozen=True)
class BaseSpec:
    wheel_base_m: float = 0.28  # distance between the wheel centres (track)
    wheel_radius_m: float = 0.05
    mass_kg: float = 4.5  # chassis + both wheels
    wheel_max_torque_nm: float = 0.6
    wheel_max_speed_radps: float = 12.0
    wheel_gain_nm_per_radps: float = 0.4  # velocity servo gain: torque per rad/s of error
    # Centre of mass ahead of the wheel axle (< 0: behind it, on the rear caster). A heavy load
    # on a caster judders when the base reverses, in MuJoCo as on a real robot.
    com_forward_m: float = -0.03


@dataclass(frozen=True)
class LimitsSpec:
    max_linear_mps: float = 0.5
    max_angular_radps: float = 2.0
    max_linear_accel_mps2: float = 1.0
    max_angular_accel_radps2: float = 4.0


@dataclass(frozen=True)
class CameraMountSpec:
    height_m: float = 0.17  # above the floor
    forward_m: float = 0.15  # ahead of base_link
    pitch_deg: float = 10.0  # downward tilt
    fovy_deg: float = 70.0  # vertical field of view (MuJoCo's convention; pixels are square)
    width: int = 64
    height: int = 64
    encoding: str = "rgb8"
    rate_hz: float = 30.0  # sim_node's camera rate


@dataclass(frozen=True)
class LidarSpec:
    beams: int = 360
    fov_deg: float = 360.0
    range_min_m: float = 0.1
    range_max_m: float = 6.0
    height_m: float = 0.2
    forward_m: float = 0.0
    rate_hz: float = 10.0


@dataclass(frozen=True)
class RobotDescription:
    name: str = DEFAULT_ROBOT
    description: str = ""
    footprint: FootprintSpec = field(default_factory=lambda: FootprintSpec(radius_m=0.17))
    base: BaseSpec = field(default_factory=BaseSpec)
    limits: LimitsSpec = field(default_factory=LimitsSpec)
    camera: CameraMountSpec = field(default_factory=CameraMountSpec)
    lidar: LidarSpec | None = None
    bumper: bool = False
    cmd_vel_stamped: bool = False  # the base takes geometry_msgs/TwistStamped
    source: str = ""  # the file it came from (not a key of the file)

    # -- what other layers need -----------------------------------------------------------------
    def footprint_spec(self) -> Footprint:
        f = self.footprint
        if f.radius_m is not None:
            return Footprint(kind="circle", radius_m=float(f.radius_m))
        return Footprint(kind="rectangle", length_m=float(f.length_m), width_m=float(f.width_m))

    def camera_spec(self) -> CameraSpec:
        c = self.camera
        fovx = 2 * math.degrees(
            math.atan(math.tan(math.radians(c.fovy_deg) / 2) * c.width / c.height)
        )
        return CameraSpec(
            width=c.width,
            height=c.height,
            fovx_deg=round(fovx, 3),
            fovy_deg=c.fovy_deg,
            encoding=c.encoding,
            source="robot file",
        )

    def sim_config(self, **overrides: Any):
        """The simulator's configuration for this robot (sim/simulator.py)."""
        from .robot import RobotGeometry
        from .simulator import LidarConfig, SimConfig

        fp, base, cam = self.footprint_spec(), self.base, self.camera
        radius = fp.circumscribed_radius_m
        half_length = radius if fp.kind == "circle" else fp.length_m / 2
        default_geometry = RobotGeometry()
        is_default_body = (fp.kind, radius, base.mass_kg, self.footprint.height_m) == (
            "circle",
            default_geometry.chassis_radius_m,
            BaseSpec().mass_kg,
            default_geometry.chassis_height_m,
        )
        geometry = RobotGeometry(
            chassis_radius_m=radius,
            chassis_height_m=self.footprint.height_m,
            chassis_mass_kg=base.mass_kg - 2 * default_geometry.wheel_mass_kg,
            wheel_radius_m=base.wheel_radius_m,
            track_m=base.wheel_base_m,
            camera_forward_m=cam.forward_m,
            camera_height_m=cam.height_m,
            chassis_length_m=fp.length_m if fp.kind == "rectangle" else 0.0,
            chassis_width_m=fp.width_m if fp.kind == "rectangle" else 0.0,
            caster_offset_m=min(0.12, 0.75 * half_length),
            com_forward_m=base.com_forward_m,
            chassis_inertia_kgm2=None if is_default_body else _inertia(fp, self.footprint, base),
        )
        lidar = None if self.lidar is None else LidarConfig(**asdict(self.lidar))
        values = dict(
            camera_width=cam.width,
            camera_height=cam.height,
            camera_fovy_deg=cam.fovy_deg,
            camera_pitch_deg=cam.pitch_deg,
            max_linear_mps=self.limits.max_linear_mps,
            max_angular_radps=self.limits.max_angular_radps,
            max_linear_accel_mps2=self.limits.max_linear_accel_mps2,
            max_angular_accel_radps2=self.limits.max_angular_accel_radps2,
            wheel_max_speed_radps=base.wheel_max_speed_radps,
            wheel_max_torque_nm=base.wheel_max_torque_nm,
            wheel_gain_nm_per_radps=base.wheel_gain_nm_per_radps,
            robot=geometry,
            lidar=lidar,
            bumper=self.bumper,
        )
        values.update(overrides)
        config = SimConfig(**values)
        config.validate()
        return config

    def to_dict(self) -> dict[str, Any]:
        """The description as the checkpoint and the bag metadata store it."""
        out = asdict(self)
        out.pop("source")
        return out


def _inertia(fp: Footprint, spec: FootprintSpec, base: BaseSpec) -> tuple[float, float, float]:
    mass, h = base.mass_kg, spec.height_m
    if fp.kind == "circle":
        r = fp.radius_m
        side = mass * (3 * r * r + h * h) / 12
        return (round(side, 5), round(side, 5), round(mass * r * r / 2, 5))
    a, b = fp.length_m, fp.width_m
    return (
        round(mass * (b * b + h * h) / 12, 5),
        round(mass * (a * a + h * h) / 12, 5),
        round(mass * (a * a + b * b) / 12, 5),
    )


# ------------------------------------------------------------------------------- loading + checks
def robot_path(name_or_path: str | Path) -> Path:
    """A robot name (config/robots/<name>.yaml) or a path to a robot file."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in text:
        return path
    return ROBOTS_DIR / f"{text}.yaml"


def available_robots() -> list[str]:
    return sorted(p.stem for p in ROBOTS_DIR.glob("*.yaml"))


def load_robot(name_or_path: str | Path | None) -> RobotDescription:
    """Load and check a robot file; None or '' is the default robot. Raises RobotFileError."""
    if name_or_path in (None, ""):
        name_or_path = DEFAULT_ROBOT
    path = robot_path(name_or_path)
    if not path.is_file():
        known = ", ".join(available_robots()) or "none"
        raise RobotFileError(f"robot file {path}: not found (robots in {ROBOTS_DIR}: {known})")
    try:
        values = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        detail = str(error).replace("\n", " ")
        raise RobotFileError(f"robot file {path}: cannot read it ({detail})") from None
    return robot_from_dict(values, str(path))


def robot_from_dict(values: Any, where: str = "robot description") -> RobotDescription:
    """A robot description from plain values (a parsed YAML file); checks every key and value."""
    if not isinstance(values, dict):
        raise RobotFileError(f"robot file {where}: expected a mapping at the top level")
    robot = _build(RobotDescription, values, where, "")
    _check(robot, where)
    return replace(robot, source=where)


_NESTED = {
    "footprint": FootprintSpec,
    "base": BaseSpec,
    "limits": LimitsSpec,
    "camera": CameraMountSpec,
    "lidar": LidarSpec,
}


def _build(cls, values: dict, where: str, prefix: str):
    known = {f.name: f for f in fields(cls) if f.name != "source"}
    unknown = sorted(set(values) - set(known))
    if unknown:
        key = prefix + str(unknown[0])
        raise RobotFileError(
            f"robot file {where}: unknown key '{key}' (known under '{prefix or 'top level'}': "
            f"{', '.join(sorted(known))})"
        )
    out: dict[str, Any] = {}
    for name, value in values.items():
        key = prefix + name
        nested = _NESTED.get(name) if cls is RobotDescription else None
        if nested is not None:
            if value is None and name == "lidar":
                out[name] = None
                continue
            if not isinstance(value, dict):
                raise RobotFileError(f"robot file {where}: '{key}' must be a mapping")
            out[name] = _build(nested, value, where, key + ".")
            continue
        out[name] = _coerce(value, known[name].type, where, key)
    return cls(**out)


def _coerce(value: Any, annotation: Any, where: str, key: str) -> Any:
    text = str(annotation)
    if "bool" in text:
        if not isinstance(value, bool):
            raise RobotFileError(
                f"robot file {where}: '{key}' must be true or false; got {value!r}"
            )
        return value
    if text == "str":
        if not isinstance(value, str):
            raise RobotFileError(f"robot file {where}: '{key}' must be a string; got {value!r}")
        return value
    if "int" in text and "float" not in text:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RobotFileError(f"robot file {where}: '{key}' must be an integer; got {value!r}")
        return value
    if value is None and "None" in text:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RobotFileError(f"robot file {where}: '{key}' must be a number; got {value!r}")
    return float(value)


def _check(robot: RobotDescription, where: str) -> None:
    """Ranges and consistency; the first problem found is the error (one line)."""

    def fail(key: str, text: str) -> None:
        raise RobotFileError(f"robot file {where}: '{key}' {text}")

    def positive(key: str, value: float, low: float = 0.0, high: float = math.inf) -> None:
        if not low < value <= high:
            fail(key, f"must be in ({low:g}, {high:g}]; got {value:g}")

    if not robot.name or not robot.name.replace("_", "").replace("-", "").isalnum():
        fail("name", f"must be a plain name (letters, digits, - and _); got {robot.name!r}")
    f = robot.footprint
    if f.radius_m is not None and (f.length_m is not None or f.width_m is not None):
        fail("footprint", "gives both radius_m and length_m/width_m: use one of them")
    if f.radius_m is None and (f.length_m is None or f.width_m is None):
        fail("footprint", "needs radius_m, or length_m and width_m")
    for key in ("radius_m", "length_m", "width_m"):
        if getattr(f, key) is not None:
            positive(f"footprint.{key}", getattr(f, key), 0.03, 2.0)
    positive("footprint.height_m", f.height_m, 0.01, 2.0)
    b = robot.base
    positive("base.wheel_radius_m", b.wheel_radius_m, 0.005, 0.5)
    positive("base.wheel_base_m", b.wheel_base_m, 0.02, 3.0)
    positive("base.mass_kg", b.mass_kg, 0.6, 1000.0)
    positive("base.wheel_max_torque_nm", b.wheel_max_torque_nm, 0.0, 1000.0)
    positive("base.wheel_max_speed_radps", b.wheel_max_speed_radps, 0.0, 1000.0)
    positive("base.wheel_gain_nm_per_radps", b.wheel_gain_nm_per_radps, 0.0, 1000.0)
    half_width = f.radius_m if f.radius_m is not None else f.width_m / 2
    half_length = f.radius_m if f.radius_m is not None else f.length_m / 2
    if not -half_length <= b.com_forward_m <= half_length:
        fail("base.com_forward_m", f"{b.com_forward_m:g} lies outside the footprint")
    if b.wheel_base_m / 2 > half_width + 1e-9:
        fail(
            "base.wheel_base_m",
            f"{b.wheel_base_m:g} puts the wheels outside the footprint (half width "
            f"{half_width:g} m)",
        )
    lim = robot.limits
    positive("limits.max_linear_mps", lim.max_linear_mps, 0.0, 10.0)
    positive("limits.max_angular_radps", lim.max_angular_radps, 0.0, 20.0)
    positive("limits.max_linear_accel_mps2", lim.max_linear_accel_mps2, 0.0, 50.0)
    positive("limits.max_angular_accel_radps2", lim.max_angular_accel_radps2, 0.0, 100.0)
    c = robot.camera
    positive("camera.height_m", c.height_m, b.wheel_radius_m, 3.0)
    if not -1.0 <= c.forward_m <= 2.0:
        fail("camera.forward_m", f"must be in [-1, 2]; got {c.forward_m:g}")
    if not -45.0 <= c.pitch_deg <= 80.0:
        fail("camera.pitch_deg", f"must be in [-45, 80] (degrees down); got {c.pitch_deg:g}")
    if not 10.0 <= c.fovy_deg <= 170.0:
        fail("camera.fovy_deg", f"must be in [10, 170]; got {c.fovy_deg:g}")
    for key in ("width", "height"):
        if not 8 <= getattr(c, key) <= 4096:
            fail(f"camera.{key}", f"must be 8..4096 pixels; got {getattr(c, key)}")
    if c.encoding not in ENCODINGS:
        fail("camera.encoding", f"{c.encoding!r} is not one of {', '.join(ENCODINGS)}")
    positive("camera.rate_hz", c.rate_hz, 0.0, 1000.0)
    if robot.lidar is not None:
        from .simulator import LidarConfig

        try:
            LidarConfig(**asdict(robot.lidar)).validate()
        except ValueError as error:
            fail("lidar", str(error))
