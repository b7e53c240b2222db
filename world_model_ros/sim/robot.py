"""The simulated differential-drive robot: its dimensions and its MJCF fragment.

A TurtleBot-sized base: a cylindrical chassis on a free joint, two driven wheels on hinges
(velocity servos with a torque limit and a first-order motor lag), a rear ball caster
(frictionless, so it slides) and a forward camera. The robot's geoms are in geom group
``ROBOT_GEOM_GROUP`` so the onboard camera does not see its own chassis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ROBOT_GEOM_GROUP = 3
CAMERA_NAME = "front_camera"
BASE_BODY = "base_link"


@dataclass(frozen=True)
class RobotGeometry:
    """Dimensions (m, kg). ``track_m`` is the distance between the wheel centres."""

    chassis_radius_m: float = 0.17
    chassis_height_m: float = 0.09
    chassis_mass_kg: float = 4.0
    wheel_radius_m: float = 0.05
    wheel_width_m: float = 0.03
    wheel_mass_kg: float = 0.25
    track_m: float = 0.28
    caster_radius_m: float = 0.025
    camera_forward_m: float = 0.15
    camera_height_m: float = 0.17  # above the floor
    # Rectangular chassis (robot files, sim/robots.py): length along x and width along y; 0 = the
    # cylinder of ``chassis_radius_m``. A rectangle's ``chassis_radius_m`` is its circumscribed
    # radius (what ArenaMap.robot_radius_m and the clearance metrics use).
    chassis_length_m: float = 0.0
    chassis_width_m: float = 0.0
    caster_offset_m: float = 0.12  # casters this far ahead of and behind the axle
    com_forward_m: float = -0.03  # chassis centre of mass ahead of the axle (behind: < 0)
    # Diagonal inertia (Ixx, Iyy, Izz) of the chassis; None = the default robot's 0.03/0.03/0.05
    chassis_inertia_kgm2: tuple[float, float, float] | None = None

    @property
    def rectangular(self) -> bool:
        return self.chassis_length_m > 0 and self.chassis_width_m > 0


def robot_mjcf(
    geometry: RobotGeometry,
    camera_fovy_deg: float,
    camera_pitch_deg: float,
    wheel_friction: float,
    body_friction: float,
) -> str:
    """The ``<body>`` element of the robot, placed at the origin (the simulator sets its pose).

    The body frame is ``base_link`` (REP-103: x forward, y left, z up) at the wheel axle's
    height above the floor, midway between the wheels.
    """
    g = geometry
    r = g.wheel_radius_m
    ground_clearance_m = 0.02
    chassis_z = (
        ground_clearance_m + g.chassis_height_m / 2 - r
    )  # chassis centre relative to base_link
    caster_z = -(r - g.caster_radius_m)
    camera_z = g.camera_height_m - r
    pitch = math.radians(camera_pitch_deg)
    # Camera looks along its -z; x to the robot's right, y up, tilted down by ``pitch``.
    xyaxes = f"0 -1 0 {math.sin(pitch):.6f} 0 {math.cos(pitch):.6f}"
    half_track = g.track_m / 2
    group = ROBOT_GEOM_GROUP
    inertia = " ".join(f"{v:g}" for v in (g.chassis_inertia_kgm2 or (0.03, 0.03, 0.05)))
    if g.rectangular:
        chassis = (
            f'type="box" size="{g.chassis_length_m / 2:.4f} {g.chassis_width_m / 2:.4f} '
            f'{g.chassis_height_m / 2:.4f}"'
        )
    else:
        chassis = f'type="cylinder" size="{g.chassis_radius_m} {g.chassis_height_m / 2:.4f}"'
    caster = g.caster_offset_m
    return f"""
    <body name="{BASE_BODY}" pos="0 0 {r:.4f}">
      <freejoint name="base_free"/>
      <inertial pos="{g.com_forward_m:g} 0 {chassis_z:.4f}" mass="{g.chassis_mass_kg}"
                diaginertia="{inertia}"/>
      <geom name="chassis" {chassis}
            pos="0 0 {chassis_z:.4f}" rgba="0.2 0.2 0.22 1" friction="{body_friction} 0.005 0.0001"
            mass="0" group="{group}"/>
      <geom name="caster_rear" type="sphere" size="{g.caster_radius_m}"
            pos="{-caster} 0 {caster_z:.4f}" condim="1" mass="0" rgba="0.5 0.5 0.5 1"
            group="{group}"/>
      <geom name="caster_front" type="sphere" size="{g.caster_radius_m}"
            pos="{caster} 0 {caster_z + 0.004:.4f}" condim="1" mass="0" rgba="0.5 0.5 0.5 1"
            group="{group}"/>
      <camera name="{CAMERA_NAME}" pos="{g.camera_forward_m} 0 {camera_z:.4f}" xyaxes="{xyaxes}"
              fovy="{camera_fovy_deg}"/>
      <body name="wheel_left" pos="0 {half_track:.4f} 0">
        <joint name="wheel_left_joint" type="hinge" axis="0 1 0" damping="0.01" armature="0.002"/>
        <geom name="wheel_left" type="cylinder" size="{r} {g.wheel_width_m / 2}" zaxis="0 1 0"
              mass="{g.wheel_mass_kg}" friction="{wheel_friction} 0.005 0.0001"
              rgba="0.1 0.1 0.1 1" group="{group}"/>
      </body>
      <body name="wheel_right" pos="0 {-half_track:.4f} 0">
        <joint name="wheel_right_joint" type="hinge" axis="0 1 0" damping="0.01" armature="0.002"/>
        <geom name="wheel_right" type="cylinder" size="{r} {g.wheel_width_m / 2}" zaxis="0 1 0"
              mass="{g.wheel_mass_kg}" friction="{wheel_friction} 0.005 0.0001"
              rgba="0.1 0.1 0.1 1" group="{group}"/>
      </body>
    </body>"""


def wheel_actuators_mjcf(
    gain_nm_per_radps: float, max_torque_nm: float, motor_time_constant_s: float
) -> str:
    """Velocity servos on both wheels: torque = gain * (filtered target - speed), clamped.

    ``dyntype="filter"`` makes the applied target follow the command with a first-order lag
    (the motor driver's response), and ``forcerange`` is the stall torque: against a wall the
    wheels stall or slip instead of pushing the robot through.
    """
    lines = []
    for side in ("left", "right"):
        lines.append(
            f'<general name="wheel_{side}_motor" joint="wheel_{side}_joint" dyntype="filter" '
            f'dynprm="{motor_time_constant_s}" gaintype="fixed" gainprm="{gain_nm_per_radps}" '
            f'biastype="affine" biasprm="0 0 {-gain_nm_per_radps}" forcelimited="true" '
            f'forcerange="{-max_torque_nm} {max_torque_nm}"/>'
        )
    return "\n    ".join(lines)
