"""MJCF (MuJoCo XML) of a whole scene: floor, tinted walls, a layout's obstacles and the robot.

Rendering settings matter for speed here: shadows and multisampling are off, which is what
makes software (llvmpipe/OSMesa) rendering of small frames take well under a millisecond
instead of tens of milliseconds.
"""

from __future__ import annotations

import math

from .arena import Layout
from .robot import RobotGeometry, robot_mjcf, wheel_actuators_mjcf

# Pale, distinct tints per wall (+x, -x, +y, -y) so the camera can tell which way it faces.
WALL_TINTS = ("0.92 0.86 0.78", "0.78 0.86 0.93", "0.84 0.92 0.80", "0.90 0.82 0.90")


def scene_mjcf(
    layout: Layout,
    geometry: RobotGeometry,
    *,
    timestep_s: float,
    camera_fovy_deg: float,
    camera_pitch_deg: float,
    wheel_gain: float,
    wheel_max_torque_nm: float,
    motor_time_constant_s: float,
    wheel_friction: float,
    body_friction: float,
    offscreen_size: tuple[int, int],
) -> str:
    """Full MJCF text. Geom names: ``floor``, ``wall_*``, ``obstacle_*`` and the robot's parts."""
    half = layout.arena.half_size_m
    t = layout.wall_thickness_m
    h = layout.wall_height_m
    walls = []
    # Walls' inner faces at |x|, |y| = half (the ArenaMap convention).
    for index, (x, y, sx, sy) in enumerate(
        [
            (half + t / 2, 0, t / 2, half + t),
            (-half - t / 2, 0, t / 2, half + t),
            (0, half + t / 2, half + t, t / 2),
            (0, -half - t / 2, half + t, t / 2),
        ]
    ):
        walls.append(
            f'<geom name="wall_{index}" type="box" pos="{x:.4f} {y:.4f} {h / 2:.4f}" '
            f'size="{sx:.4f} {sy:.4f} {h / 2:.4f}" material="wall_{index}" '
            f'friction="0.3 0.005 0.0001"/>'
        )
    obstacles = []
    for index, (o, colour, height) in enumerate(
        zip(layout.arena.obstacles, layout.colours_rgb, layout.heights_m, strict=True)
    ):
        rgba = f"{colour[0]:.3f} {colour[1]:.3f} {colour[2]:.3f} 1"
        if o.kind == "box":
            obstacles.append(
                f'<geom name="obstacle_{index}" type="box" '
                f'pos="{o.x:.4f} {o.y:.4f} {height / 2:.4f}" '
                f'size="{o.hx:.4f} {o.hy:.4f} {height / 2:.4f}" euler="0 0 {o.yaw:.5f}" '
                f'rgba="{rgba}" friction="0.4 0.005 0.0001"/>'
            )
        else:
            obstacles.append(
                f'<geom name="obstacle_{index}" type="cylinder" '
                f'pos="{o.x:.4f} {o.y:.4f} {height / 2:.4f}" '
                f'size="{o.hx:.4f} {height / 2:.4f}" rgba="{rgba}" friction="0.4 0.005 0.0001"/>'
            )
    wall_assets = "\n    ".join(
        f'<texture name="wall_{i}" type="cube" builtin="checker" rgb1="{tint}" '
        f'rgb2="{" ".join(f"{0.85 * float(c):.3f}" for c in tint.split())}" '
        f'width="64" height="64"/>\n    '
        f'<material name="wall_{i}" texture="wall_{i}" texrepeat="8 1" texuniform="false"/>'
        for i, tint in enumerate(WALL_TINTS)
    )
    floor_size = half + t
    extent = 2 * floor_size
    return f"""<mujoco model="world_model_ros_arena">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{timestep_s}" integrator="implicitfast" cone="elliptic"/>
  <visual>
    <quality shadowsize="0" offsamples="0"/>
    <global offwidth="{offscreen_size[0]}" offheight="{offscreen_size[1]}"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.45 0.45 0.45" specular="0 0 0"/>
    <!-- znear/zfar are relative to the extent: 5 mm near plane, so a camera against a wall
         still sees it -->
    <map znear="{0.005 / extent:.6f}" zfar="2.0"/>
  </visual>
  <statistic extent="{extent:.3f}" center="0 0 0.3"/>
  <asset>
    <texture name="sky" type="skybox" builtin="gradient" rgb1="0.55 0.68 0.85"
             rgb2="0.88 0.90 0.94" width="64" height="64"/>
    <texture name="floor" type="2d" builtin="checker" rgb1="0.52 0.52 0.50" rgb2="0.40 0.40 0.40"
             width="128" height="128" mark="edge" markrgb="0.32 0.32 0.32"/>
    <material name="floor" texture="floor" texrepeat="2 2" texuniform="true"/>
    {wall_assets}
  </asset>
  <worldbody>
    <light name="sun" directional="true" castshadow="false" pos="0 0 4" dir="0.3 0.2 -1"
           diffuse="0.5 0.5 0.5"/>
    <geom name="floor" type="plane" size="{floor_size:.3f} {floor_size:.3f} 0.1" material="floor"
          friction="1.0 0.005 0.0001"/>
    {chr(10).join("    " + w for w in walls)}
    {chr(10).join("    " + o for o in obstacles)}
    {robot_mjcf(geometry, camera_fovy_deg, camera_pitch_deg, wheel_friction, body_friction)}
  </worldbody>
  <actuator>
    {wheel_actuators_mjcf(wheel_gain, wheel_max_torque_nm, motor_time_constant_s)}
  </actuator>
</mujoco>
"""


def camera_intrinsics(
    width: int, height: int, fovy_deg: float
) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) in pixels of MuJoCo's pinhole camera (square pixels, vertical FOV)."""
    fy = (height / 2.0) / math.tan(math.radians(fovy_deg) / 2.0)
    return fy, fy, (width - 1) / 2.0, (height - 1) / 2.0
