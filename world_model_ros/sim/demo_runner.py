"""The demo's closed loop in one process, in lockstep, without ROS: sim -> model -> MPPI -> sim.

Every control period the simulator renders the camera, its odometry forms the observation,
the model encodes it, MPPI plans from it, and the simulator holds the plan's first command for
one period. Nothing runs in parallel, so a run is deterministic for a given seed and does not
depend on how loaded the machine is (latencies are measured, but do not change what happens).

Episodes: one per layout seed; the start and the goal are drawn from a generator seeded by the
layout seed only, so every planner faces the same start, goal and obstacles. Layout seeds of the
demo default to 10000 and up, disjoint from the ranges ``record`` documents for training
(0:20) and held-out evaluation (1000:1005).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ..core.data.episodes import ArenaMap
from ..core.data.scan_input import scan_points, sector_input, sensor_pose
from ..core.live.domain import CommandLog
from ..core.live.motion_history import COMMAND_TIMEOUT_S, motion_history
from ..core.live.sync import OdomBuffer, OdomSample
from ..core.model.contract import EncoderInputs, KnowsArena, Observation, WorldModel
from ..core.planning.controller_config import ControllerConfig
from ..core.planning.goal import ControlOutput, GoalState, PlanningInput
from ..core.planning.goal_controller import GoalController
from ..core.planning.scan_layer import LaserFrame
from .simulator import DiffDriveSim

DEMO_LAYOUT_SEED_START = 10_000


@dataclass(frozen=True)
class EpisodeSetup:
    """Where an episode starts and where it must go (odom = arena frame)."""

    layout_seed: int
    start_xyyaw: tuple[float, float, float]
    goal_xyyaw: tuple[float, float, float]


def demo_controller_config(config: ControllerConfig | None = None) -> ControllerConfig:
    """The planner's settings as the demo runs them: position-only goals within 0.2 m (the
    sampled goal yaw means nothing, so no final turn on the spot), no goal timeout of its own
    (the episode has one)."""
    config = config or ControllerConfig()
    mppi = replace(config.mppi, costs=replace(config.mppi.costs, use_goal_yaw=False))
    return replace(
        config, xy_goal_tolerance=0.2, yaw_goal_tolerance=math.pi, goal_timeout_s=0.0, mppi=mppi
    )


@dataclass(frozen=True)
class DemoConfig:
    control_period_s: float = 0.1  # one MPPI cycle per period; equal to the model's dt
    max_episode_s: float = 40.0  # give up (a failure) after this much simulated time
    goal_min_distance_m: float = 2.0  # straight-line start-goal distance at least
    stuck_window_s: float = 15.0  # fail early when the robot got no closer in this long...
    stuck_progress_m: float = 0.1  # ...by at least this much
    controller: ControllerConfig = field(default_factory=demo_controller_config)


@dataclass
class EpisodeResult:
    planner: str
    setup: EpisodeSetup
    reached: bool
    collided: bool  # any contact with a wall or obstacle during the episode
    contact_steps: int
    time_s: float  # simulated time until reached (or until given up)
    final_distance_m: float
    status: str  # "reached" | "failed: timeout" | "failed: stuck" | "failed: <the planner's>"
    detours: int  # escapes from local minima (core/planning/detour.py)
    path_xyyaw: np.ndarray  # [T, 3] true poses, one per control period
    planning_ms: list[float] = field(default_factory=list)  # encode + MPPI cycle
    prediction_ms: list[float] = field(default_factory=list)  # encode + one rollout under the plan


def episode_setup(sim: DiffDriveSim, layout_seed: int, goal_min_distance_m: float) -> EpisodeSetup:
    """Deterministic start and goal for ``layout_seed`` (also leaves ``sim`` reset at the
    start)."""
    rng = np.random.default_rng(np.random.SeedSequence([layout_seed, 0xDE70]))
    sim.reset(layout_seed=layout_seed)
    for _ in range(100):
        start = sim.sample_free_pose(rng, clearance_m=0.25)
        sim.reset(start_pose=start)
        try:
            goal = sim.sample_goal(rng, min_distance_m=goal_min_distance_m)
        except RuntimeError:
            continue
        return EpisodeSetup(
            layout_seed, tuple(float(v) for v in start), tuple(float(v) for v in goal)
        )
    raise RuntimeError(
        f"layout {layout_seed}: no start with a free goal {goal_min_distance_m} m away"
    )


StepHook = Callable[[float, DiffDriveSim, "np.ndarray | None", ControlOutput, np.ndarray], None]


def run_episode(
    sim: DiffDriveSim,
    model: WorldModel,
    controller: GoalController,
    setup: EpisodeSetup,
    name: str,
    config: DemoConfig | None = None,
    on_step: StepHook | None = None,
) -> EpisodeResult:
    """Drive from ``setup.start`` to ``setup.goal``. Each period the model encodes the frame
    (the twin's job), the controller plans from that state (the planner node's job) and the
    simulator holds the command for one period; ``on_step(time_s, sim, image, output,
    command)`` is called every cycle (the recorder)."""
    config = config or DemoConfig()
    sim.reset(layout_seed=setup.layout_seed, start_pose=setup.start_xyyaw)
    controller.reset()
    if isinstance(model, KnowsArena):  # the map-aware reference model (sim/oracle_model.py)
        model.set_arena(sim.arena_map())
    goal = np.asarray(setup.goal_xyyaw, dtype=np.float64)
    controller.set_goal(goal, sim.time_s)
    path, planning_ms, prediction_ms = [sim.pose()], [], []
    contact_steps, status = 0, "failed: timeout"
    started_s = sim.time_s
    max_steps = int(round(config.max_episode_s / config.control_period_s))
    best_distance, best_step = math.inf, 0
    stuck_steps = int(round(config.stuck_window_s / config.control_period_s))
    history = DemoHistory.of(model)
    for step in range(max_steps):
        pose, twist = sim.odometry()
        if history is not None:
            history.odometry(sim.time_s, pose, twist)
        distance = float(np.hypot(*(goal[:2] - pose[:2])))
        if distance < best_distance - config.stuck_progress_m:
            best_distance, best_step = distance, step
        elif step - best_step > stuck_steps:
            status = "failed: stuck"
            break
        image = sim.render() if model.uses_camera or on_step is not None else None
        laser = demo_laser(sim, pose)
        observation = Observation(
            sim.time_s,
            image if model.uses_camera else None,
            pose.astype(np.float32),
            twist.astype(np.float32),
            None if history is None else history.at(sim.time_s, twist),
            demo_scan_input(model, laser, pose),
        )
        tic = time.perf_counter()
        try:
            state = PlanningInput(observation.stamp_s, model.encode(observation), laser)
        except Exception as exc:  # noqa: BLE001 - this episode's failure; the demo goes on
            status = f"failed: model error: {type(exc).__name__}: {exc}"
            break
        encode_s = time.perf_counter() - tic
        output = controller.step(state, sim.time_s)
        if output.status.state is GoalState.REACHED:
            status = "reached"
            break
        if output.status.state is GoalState.FAILED:
            status = output.status.text
            break
        if output.status.state is not GoalState.ACTIVE or output.result is None:
            status = f"failed: {output.status.text}"  # in lockstep only errors make it hold
            break
        result = output.result
        planning_ms.append((encode_s + result.planning_s) * 1e3)
        prediction_ms.append((encode_s + result.plan_rollout_s) * 1e3)
        command = output.command_2
        if on_step is not None:
            on_step(sim.time_s, sim, image, output, command)
        if history is not None:
            history.commands.add(sim.time_s, command)
        sim.step(command, config.control_period_s)
        contact_steps += int(sim.contact_during_last_step)
        path.append(sim.pose())
    pose = sim.pose()
    return EpisodeResult(
        planner=name,
        setup=setup,
        reached=status == "reached",
        collided=contact_steps > 0,
        contact_steps=contact_steps,
        time_s=sim.time_s - started_s,
        final_distance_m=float(np.hypot(*(goal[:2] - pose[:2]))),
        status=status,
        detours=controller.detour.detours,
        path_xyyaw=np.array(path),
        planning_ms=planning_ms,
        prediction_ms=prediction_ms,
    )


@dataclass
class DemoHistory:
    """What the robot was told and did, for a model whose encoder takes the steps before a
    frame (core/live/motion_history.py; the node keeps the same two buffers)."""

    steps: int
    dt_s: float
    commands: CommandLog
    buffer: OdomBuffer

    @classmethod
    def of(cls, model: WorldModel) -> "DemoHistory | None":
        steps = EncoderInputs.of(model).history_steps
        if not steps:
            return None
        dt_s = float(model.dt_s)
        return cls(steps, dt_s, CommandLog(), OdomBuffer(history_s=steps * dt_s + 1.0))

    def odometry(self, time_s: float, pose_3: np.ndarray, twist_2: np.ndarray) -> None:
        self.buffer.add(OdomSample(time_s, pose_3.astype(np.float32), twist_2, "odom"))

    def at(self, time_s: float, twist_2: np.ndarray) -> np.ndarray:
        return motion_history(
            time_s, self.steps, self.dt_s, self.commands, self.buffer, COMMAND_TIMEOUT_S, twist_2
        )


def demo_laser(sim: DiffDriveSim, pose_3: np.ndarray) -> LaserFrame | None:
    """The simulated LiDAR's scan now, where it was taken; None for a robot without one."""
    lidar = sim.config.lidar
    if lidar is None:
        return None
    return LaserFrame(lidar.angles_rad(), sim.scan(), sensor_pose(pose_3, lidar.forward_m))


def demo_scan_input(model: WorldModel, laser: LaserFrame | None, pose_3: np.ndarray):
    """The LaserScan input (core/data/scan_input.py) from the simulated LiDAR, for a model
    that takes one; None otherwise (or when the simulated robot has no LiDAR: "no scan")."""
    inputs = EncoderInputs.of(model)
    if not inputs.scan_sectors or laser is None:
        return None
    points = scan_points(laser.sensor_pose_3, laser.angles_n, laser.ranges_n)
    return sector_input(points, pose_3, inputs.scan_sectors, inputs.scan_range_m)


def arena_of(sim: DiffDriveSim, layout_seed: int) -> ArenaMap:
    sim.reset(layout_seed=layout_seed)
    return sim.arena_map()
