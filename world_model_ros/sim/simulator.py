"""``DiffDriveSim``: the embedded MuJoCo differential-drive robot, driven in lockstep (no ROS).

Frames (REP-105): the arena is centred on the world origin and the simulator's odometry frame
``odom`` IS that world frame, so :meth:`DiffDriveSim.pose` and :meth:`DiffDriveSim.arena_map`
are directly comparable (walls at |x|, |y| = half_size_m). The noisy wheel odometry of
:meth:`DiffDriveSim.odometry` starts equal to the true pose at each reset and drifts from it
only when ``SimConfig.odom_noise_*`` > 0.

Why not a kinematic model: commands pass through velocity/acceleration limits and a motor
lag, the wheels are torque-limited and can slip (friction), and the robot is a rigid body that
collides: against a wall it stops or slides along it. A unicycle integration of the commands
is therefore *not* the truth, which is the point of learning a world model.

Rendering is offscreen through MuJoCo's ``Renderer``; ``MUJOCO_GL`` defaults to ``egl`` here
(set it to ``osmesa`` on machines without EGL). Shadows and multisampling are off (mjcf.py).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco is imported: headless rendering

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from ..core.data.episodes import ArenaMap  # noqa: E402
from ..core.geometry import quaternion_to_yaw, wrap_angle_np, yaw_to_quaternion  # noqa: E402
from .arena import Layout, LayoutConfig, generate_layout, signed_distance  # noqa: E402
from .lidar import LidarConfig, cast_scan  # noqa: E402
from .mjcf import camera_intrinsics, scene_mjcf  # noqa: E402
from .robot import BASE_BODY, CAMERA_NAME, ROBOT_GEOM_GROUP, RobotGeometry  # noqa: E402


@dataclass(frozen=True)
class SimConfig:
    """Everything that defines the simulated robot and its world. Units in the names.

    Camera: ``camera_fovy_deg`` is the *vertical* field of view (MuJoCo's convention); pixels
    are square, so the horizontal FOV follows from the aspect ratio.
    Command limits apply to (v, w) before the wheels; wheel limits apply after (a turn at full
    speed is scaled down keeping its curvature).
    """

    camera_width: int = 64
    camera_height: int = 64
    camera_fovy_deg: float = 70.0
    camera_pitch_deg: float = 10.0  # downward tilt
    timestep_s: float = 0.002  # physics step
    control_period_s: float = 0.01  # motor controller update (acceleration limiting)
    arena_half_size_m: float = 2.5
    obstacles_min: int = 3
    obstacles_max: int = 7
    max_linear_mps: float = 0.5
    max_angular_radps: float = 2.0
    max_linear_accel_mps2: float = 1.0
    max_angular_accel_radps2: float = 4.0
    wheel_max_speed_radps: float = 12.0
    wheel_max_torque_nm: float = 0.6
    wheel_gain_nm_per_radps: float = 0.4
    motor_time_constant_s: float = 0.05
    wheel_friction: float = 1.0
    body_friction: float = 0.3  # chassis against walls/obstacles: it slides along them
    odom_noise_linear_frac: float = 0.0  # std of the relative error of each odometry increment
    odom_noise_angular_frac: float = 0.0
    robot: RobotGeometry = field(default_factory=RobotGeometry)
    lidar: LidarConfig | None = None
    bumper: bool = False  # a front bumper (contacts ahead of the axle), sim/robots.py

    def validate(self) -> None:
        problems = []
        if self.lidar is not None:
            try:
                self.lidar.validate()
            except ValueError as error:
                problems.append(str(error))
        if not (8 <= self.camera_width <= 4096 and 8 <= self.camera_height <= 4096):
            problems.append(
                f"camera size {self.camera_width}x{self.camera_height} outside 8..4096"
            )
        if not 10.0 <= self.camera_fovy_deg <= 170.0:
            problems.append(f"camera_fovy_deg {self.camera_fovy_deg} outside 10..170")
        if not 1e-4 <= self.timestep_s <= 0.01:
            problems.append(f"timestep_s {self.timestep_s} outside 1e-4..0.01")
        if self.control_period_s < self.timestep_s:
            problems.append(
                f"control_period_s {self.control_period_s} < timestep_s {self.timestep_s}"
            )
        for name in (
            "max_linear_mps",
            "max_angular_radps",
            "max_linear_accel_mps2",
            "max_angular_accel_radps2",
            "wheel_max_speed_radps",
            "wheel_max_torque_nm",
            "wheel_gain_nm_per_radps",
            "motor_time_constant_s",
        ):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0; got {getattr(self, name)}")
        if self.odom_noise_linear_frac < 0 or self.odom_noise_angular_frac < 0:
            problems.append("odometry noise must be >= 0")
        if problems:
            raise ValueError("invalid SimConfig: " + "; ".join(problems))

    def layout_config(self) -> LayoutConfig:
        """The arena's drawing rules; corridors between obstacles stay passable for this robot
        (at least its diameter + 5 cm; the default robot keeps LayoutConfig's 0.45 m)."""
        default_gap = LayoutConfig().min_gap_m
        return LayoutConfig(
            half_size_m=self.arena_half_size_m,
            obstacles_min=self.obstacles_min,
            obstacles_max=self.obstacles_max,
            min_gap_m=max(default_gap, 2 * self.robot.chassis_radius_m + 0.05),
        )


class DiffDriveSim:
    """A differential-drive robot in a seeded arena. Not thread-safe; one instance per thread.

    Determinism: the same ``SimConfig``, layout seed, sequence of ``reset``/``step`` calls and
    commands give the same poses and images (MuJoCo is deterministic on one machine).
    """

    START_CLEARANCE_M = 0.15  # free space around a sampled start pose, beyond the robot's radius

    def __init__(self, config: SimConfig = SimConfig(), layout_seed: int = 0):
        config.validate()
        self.config = config
        self._renderer: mujoco.Renderer | None = None
        self._time_offset_s = 0.0
        self._build(int(layout_seed))
        self.reset()

    # ----------------------------------------------------------------------------- set-up
    def _build(self, layout_seed: int) -> None:
        c = self.config
        self.layout_seed = layout_seed
        self.layout: Layout = generate_layout(
            layout_seed, c.layout_config(), c.robot.chassis_radius_m
        )
        xml = scene_mjcf(
            self.layout,
            c.robot,
            timestep_s=c.timestep_s,
            camera_fovy_deg=c.camera_fovy_deg,
            camera_pitch_deg=c.camera_pitch_deg,
            wheel_gain=c.wheel_gain_nm_per_radps,
            wheel_max_torque_nm=c.wheel_max_torque_nm,
            motor_time_constant_s=c.motor_time_constant_s,
            wheel_friction=c.wheel_friction,
            body_friction=c.body_friction,
            offscreen_size=(max(640, c.camera_width), max(480, c.camera_height)),
        )
        self.model = mujoco.MjModel.from_xml_string(xml)
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._base_body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, BASE_BODY)
        self._qpos_adr = m.jnt_qposadr[m.body_jntadr[self._base_body]]
        self._qvel_adr = m.jnt_dofadr[m.body_jntadr[self._base_body]]
        names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, g) or "" for g in range(m.ngeom)]
        self._robot_geom = np.array([m.geom_bodyid[g] != 0 for g in range(m.ngeom)])
        self._obstacle_geom = np.array([n.startswith(("wall_", "obstacle_")) for n in names])
        self._steps_per_tick = max(1, round(c.control_period_s / c.timestep_s))
        if self._renderer is not None:
            self._renderer.close()
        self._renderer = mujoco.Renderer(m, height=c.camera_height, width=c.camera_width)
        self._scene_option = mujoco.MjvOption()
        self._scene_option.geomgroup[ROBOT_GEOM_GROUP] = (
            0  # the camera does not see its own chassis
        )
        self._rng = np.random.default_rng(np.random.SeedSequence([layout_seed, 0x57A7]))

    def close(self) -> None:
        """Free the renderer's GL context (also done on garbage collection)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to free
            pass

    # ----------------------------------------------------------------------------- episode
    def reset(
        self, layout_seed: int | None = None, start_pose: tuple[float, float, float] | None = None
    ) -> None:
        """Start an episode: a new layout if ``layout_seed`` is given, the robot at rest.

        ``start_pose`` (x, y, yaw) in the odom/arena frame; None samples a collision-free pose
        with this simulator's own seeded generator (deterministic per layout seed and reset
        count). ``time_s`` keeps running across resets (a monotonic clock for ROS).
        """
        self._time_offset_s += float(self.data.time)
        if layout_seed is not None and int(layout_seed) != self.layout_seed:
            self._build(int(layout_seed))
        if start_pose is None:
            start_pose = self.sample_free_pose(self._rng)
        x, y, yaw = (float(v) for v in start_pose)
        if not all(math.isfinite(v) for v in (x, y, yaw)):
            raise ValueError(f"start_pose must be finite; got {start_pose}")
        mujoco.mj_resetData(self.model, self.data)
        q = self.data.qpos
        a = self._qpos_adr
        q[a : a + 3] = (x, y, self.config.robot.wheel_radius_m + 1e-4)
        qx, qy, qz, qw = yaw_to_quaternion(yaw)
        q[a + 3 : a + 7] = (qw, qx, qy, qz)  # MuJoCo quaternions are (w, x, y, z)
        mujoco.mj_forward(self.model, self.data)
        self._vw_ref = np.zeros(2)
        self._odom_pose = np.array([x, y, yaw], dtype=np.float64)
        self._contact_during_step = self.in_contact()

    def sample_free_pose(
        self, rng: np.random.Generator, clearance_m: float | None = None
    ) -> tuple[float, float, float]:
        """A pose whose footprint keeps ``clearance_m`` (default 0.15 m) from walls and
        obstacles."""
        clearance = self.START_CLEARANCE_M if clearance_m is None else clearance_m
        arena = self.layout.arena
        need = arena.robot_radius_m + clearance
        limit = arena.half_size_m - need
        for _ in range(10_000):
            xy = rng.uniform(-limit, limit, size=2)
            if signed_distance(arena, xy[None])[0] > need:
                return float(xy[0]), float(xy[1]), float(rng.uniform(-math.pi, math.pi))
        raise RuntimeError(
            f"no free pose with {clearance:.2f} m clearance in layout {self.layout_seed}"
        )

    def sample_goal(
        self, rng: np.random.Generator, min_distance_m: float = 1.0
    ) -> tuple[float, float, float]:
        """A free pose at least ``min_distance_m`` (straight line) from the robot: a demo goal."""
        here = self.pose()[:2]
        for _ in range(1000):
            goal = self.sample_free_pose(rng)
            if math.hypot(goal[0] - here[0], goal[1] - here[1]) >= min_distance_m:
                return goal
        raise RuntimeError(
            f"no free goal {min_distance_m} m away from {here} in layout {self.layout_seed}"
        )

    # ----------------------------------------------------------------------------- stepping
    def step(self, command_vw: tuple[float, float] | np.ndarray, duration_s: float) -> None:
        """Hold the command (v m/s, w rad/s, body frame) for ``duration_s`` of simulated time.

        The command is clipped to the (v, w) limits and approached at the acceleration limits
        every ``control_period_s``; the wheel servos then follow with their lag and torque
        limit. ``duration_s`` is rounded to whole physics steps; ``time_s`` is exact.
        """
        v_cmd, w_cmd = (float(v) for v in np.asarray(command_vw, dtype=np.float64).reshape(2))
        if not (math.isfinite(v_cmd) and math.isfinite(w_cmd)):
            raise ValueError(f"command must be finite; got {command_vw}")
        if not duration_s >= 0:
            raise ValueError(f"duration_s must be >= 0; got {duration_s}")
        c = self.config
        target = np.array(
            [
                np.clip(v_cmd, -c.max_linear_mps, c.max_linear_mps),
                np.clip(w_cmd, -c.max_angular_radps, c.max_angular_radps),
            ]
        )
        accel = np.array([c.max_linear_accel_mps2, c.max_angular_accel_radps2])
        remaining = int(round(duration_s / c.timestep_s))
        self._contact_during_step = False
        g = c.robot
        while remaining > 0:
            n = min(self._steps_per_tick, remaining)
            tick_s = n * c.timestep_s
            self._vw_ref += np.clip(target - self._vw_ref, -accel * tick_s, accel * tick_s)
            v, w = self._vw_ref
            wheels = np.array([v - w * g.track_m / 2, v + w * g.track_m / 2]) / g.wheel_radius_m
            peak = np.abs(wheels).max()
            if peak > c.wheel_max_speed_radps:
                wheels *= c.wheel_max_speed_radps / peak
            self.data.ctrl[:2] = wheels
            if c.odom_noise_linear_frac > 0 or c.odom_noise_angular_frac > 0:
                self._integrate_noisy_odometry(tick_s)
            mujoco.mj_step(self.model, self.data, nstep=n)
            self._contact_during_step |= self.in_contact()
            remaining -= n

    def _integrate_noisy_odometry(self, tick_s: float) -> None:
        v, w = self.twist()
        v *= 1.0 + self.config.odom_noise_linear_frac * self._rng.standard_normal()
        w *= 1.0 + self.config.odom_noise_angular_frac * self._rng.standard_normal()
        x, y, yaw = self._odom_pose
        mid = yaw + 0.5 * w * tick_s
        self._odom_pose = np.array(
            [
                x + v * tick_s * math.cos(mid),
                y + v * tick_s * math.sin(mid),
                float(wrap_angle_np(yaw + w * tick_s)),
            ]
        )

    # ----------------------------------------------------------------------------- sensing
    def render(self) -> np.ndarray:
        """The forward camera's view now: uint8 RGB [camera_height, camera_width, 3] (a new
        array)."""
        self._renderer.update_scene(self.data, camera=CAMERA_NAME, scene_option=self._scene_option)
        return self._renderer.render()

    def pose(self) -> np.ndarray:
        """True (x m, y m, yaw rad) of base_link in the odom (= arena) frame."""
        q = self.data.qpos[self._qpos_adr : self._qpos_adr + 7]
        return np.array([q[0], q[1], quaternion_to_yaw(q[4], q[5], q[6], q[3])])

    def twist(self) -> np.ndarray:
        """True body-frame (v m/s forward, w rad/s about +z)."""
        qv = self.data.qvel[self._qvel_adr : self._qvel_adr + 6]
        yaw = self.pose()[2]
        # Free joint: linear velocity in the world frame, angular velocity in the body frame.
        return np.array([math.cos(yaw) * qv[0] + math.sin(yaw) * qv[1], qv[5]])

    def odometry(self) -> tuple[np.ndarray, np.ndarray]:
        """What wheel odometry reports: (pose (x, y, yaw) odom frame, twist (v, w) body frame).

        Equals (pose(), twist()) when the odometry noise is zero; otherwise the pose drifts by
        integrating noisy increments from the last reset.
        """
        if self.config.odom_noise_linear_frac > 0 or self.config.odom_noise_angular_frac > 0:
            return self._odom_pose.copy(), self.twist()
        return self.pose(), self.twist()

    def in_contact(self) -> bool:
        """Whether any robot geom touches a wall or an obstacle right now (floor contact
        excluded)."""
        return bool(self._contacts().any())

    def _contacts(self) -> np.ndarray:
        """Bool [ncon]: which of MuJoCo's current contacts are robot against wall/obstacle."""
        ncon = self.data.ncon
        if ncon == 0:
            return np.zeros(0, bool)
        pairs = self.data.contact.geom[:ncon]
        a, b = pairs[:, 0], pairs[:, 1]
        return (self._robot_geom[a] & self._obstacle_geom[b]) | (
            self._robot_geom[b] & self._obstacle_geom[a]
        )

    def bumper_pressed(self) -> bool:
        """A front bumper: a robot contact whose point lies ahead of the wheel axle (what a
        TurtleBot-style bumper switch reports; False when the robot has no bumper)."""
        if not self.config.bumper:
            return False
        hits = np.flatnonzero(self._contacts())
        if len(hits) == 0:
            return False
        x, y, yaw = self.pose()
        points = self.data.contact.pos[hits, :2] - np.array([x, y])
        ahead = points @ np.array([math.cos(yaw), math.sin(yaw)])
        return bool((ahead > 0.0).any())

    def scan(self) -> np.ndarray:
        """The LiDAR's ranges [beams] (m; +inf where nothing is within range), or an empty
        array without a LiDAR. Rays see walls and obstacles, never the robot itself."""
        if self.config.lidar is None:
            return np.zeros(0)
        return cast_scan(self.model, self.data, self.pose(), self.config.lidar)

    @property
    def contact_during_last_step(self) -> bool:
        """Whether a contact happened at any control tick of the last :meth:`step` call."""
        return self._contact_during_step

    @property
    def time_s(self) -> float:
        """Simulated seconds since construction (monotonic across resets)."""
        return self._time_offset_s + float(self.data.time)

    def arena_map(self) -> ArenaMap:
        """Ground truth of the current layout in the odom frame (same frame as :meth:`pose`)."""
        return self.layout.arena

    def camera_intrinsics(self) -> tuple[float, float, float, float]:
        """(fx, fy, cx, cy) pixels, for sensor_msgs/CameraInfo."""
        c = self.config
        return camera_intrinsics(c.camera_width, c.camera_height, c.camera_fovy_deg)

    def camera_pose_in_base(self) -> tuple[np.ndarray, float]:
        """Camera position (x, y, z) in base_link (m) and its downward pitch (rad), for tf."""
        g = self.config.robot
        return np.array(
            [g.camera_forward_m, 0.0, g.camera_height_m - g.wheel_radius_m]
        ), math.radians(self.config.camera_pitch_deg)
