"""The embedded simulator: contacts stop the robot, limits and lag hold, seeds fix everything."""

from __future__ import annotations

import math

import numpy as np
import pytest

from world_model_ros.core.data.episodes import ArenaMap, Obstacle
from world_model_ros.sim.arena import bounding_radius, signed_distance
from world_model_ros.sim.simulator import DiffDriveSim, SimConfig

EMPTY = SimConfig(obstacles_min=0, obstacles_max=0)


@pytest.fixture(scope="module")
def empty_sim() -> DiffDriveSim:
    sim = DiffDriveSim(EMPTY, layout_seed=1)
    yield sim
    sim.close()


def drive(sim: DiffDriveSim, command, seconds: float, dt_s: float = 0.1) -> list[np.ndarray]:
    poses = []
    for _ in range(int(round(seconds / dt_s))):
        sim.step(command, dt_s)
        poses.append(sim.pose())
    return poses


def test_driving_into_a_wall_stops_the_robot_without_passing_through(empty_sim: DiffDriveSim):
    half = empty_sim.arena_map().half_size_m
    radius = empty_sim.arena_map().robot_radius_m
    empty_sim.reset(start_pose=(half - 1.0, 0.3, 0.0))  # facing the +x wall, 1 m away
    poses = np.array(drive(empty_sim, (0.5, 0.0), 6.0))  # would be 3 m of free driving
    assert empty_sim.in_contact()
    assert poses[:, 0].max() <= half - radius + 0.01  # the chassis never enters the wall
    assert poses[-1, 0] == pytest.approx(half - radius, abs=0.02)
    assert abs(empty_sim.twist()[0]) < 0.02  # stopped, though still commanded forward
    first_touch = next(i for i, p in enumerate(poses) if p[0] > half - radius - 0.005)
    assert np.ptp(poses[first_touch + 5 :, 0]) < 0.005  # pinned against the wall
    # Backing off ends the contact.
    drive(empty_sim, (-0.3, 0.0), 2.0)
    assert not empty_sim.in_contact() and empty_sim.pose()[0] < half - radius - 0.1


def test_oblique_wall_contact_never_penetrates(empty_sim: DiffDriveSim):
    empty_sim.reset(start_pose=(0.0, 0.0, 0.6))
    poses = np.array(drive(empty_sim, (0.5, 0.3), 20.0))
    clearance = signed_distance(empty_sim.arena_map(), poses[:, :2])
    assert clearance.min() >= empty_sim.arena_map().robot_radius_m - 0.01


def free_approach(arena: ArenaMap) -> tuple[Obstacle, tuple[float, float, float]]:
    """An obstacle and a start pose 1 m from it, facing it, with nothing else in the way."""
    for obstacle in arena.obstacles:
        alone = ArenaMap(100.0, [obstacle], arena.robot_radius_m)
        for angle in np.linspace(-math.pi, math.pi, 16, endpoint=False):
            heading = np.array([math.cos(angle), math.sin(angle)])
            start = np.array([obstacle.x, obstacle.y]) - heading * (
                bounding_radius(obstacle) + 1.0
            )
            path = start + np.linspace(0, 1.0, 50)[:, None] * heading
            to_target = signed_distance(alone, path)
            overall = signed_distance(arena, path)
            if np.all((overall > arena.robot_radius_m + 0.1) | (overall >= to_target - 1e-9)):
                return obstacle, (float(start[0]), float(start[1]), float(angle))
    raise AssertionError("no free approach in this layout")


def test_obstacle_contact_is_detected_at_the_obstacle():
    sim = DiffDriveSim(SimConfig(), layout_seed=7)
    obstacle, start = free_approach(sim.arena_map())
    sim.reset(start_pose=start)
    assert not sim.in_contact()
    drive(sim, (0.4, 0.0), 5.0)
    assert sim.in_contact()
    alone = ArenaMap(100.0, [obstacle], sim.arena_map().robot_radius_m)
    distance = signed_distance(alone, sim.pose()[None, :2])[0]
    assert distance == pytest.approx(
        sim.arena_map().robot_radius_m, abs=0.03
    )  # touching *that* obstacle
    sim.close()


def test_limits_and_acceleration_lag(empty_sim: DiffDriveSim):
    empty_sim.reset(start_pose=(-1.5, 0.0, 0.0))
    empty_sim.step((5.0, 0.0), 0.1)  # far above the 0.5 m/s limit
    assert 0.0 < empty_sim.twist()[0] < 0.15  # lagging: 1 m/s^2 at most, plus the motor's lag
    drive(empty_sim, (5.0, 0.0), 1.5)
    assert empty_sim.twist()[0] <= empty_sim.config.max_linear_mps + 1e-3
    empty_sim.reset(start_pose=(0.0, 0.0, 0.0))
    drive(empty_sim, (0.0, 10.0), 1.5)
    assert abs(empty_sim.twist()[1]) <= empty_sim.config.max_angular_radps + 1e-3
    assert abs(empty_sim.twist()[1]) > 1.0
    assert np.hypot(*empty_sim.pose()[:2]) < 0.02  # turning in place
    with pytest.raises(ValueError, match="finite"):
        empty_sim.step((math.nan, 0.0), 0.1)


def test_same_seeds_same_run_and_images():
    runs = []
    for _ in range(2):
        sim = DiffDriveSim(SimConfig(), layout_seed=11)
        sim.reset()  # start pose drawn from the layout's own generator
        commands = np.random.default_rng(0).uniform([-0.2, -2.0], [0.5, 2.0], size=(30, 2))
        poses, images = [], []
        for command in commands:
            sim.step(command, 0.1)
            poses.append(sim.pose())
            images.append(sim.render())
        runs.append((np.array(poses), np.array(images), sim.time_s))
        sim.close()
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][2] == runs[1][2] == pytest.approx(3.0)


def test_layouts_differ_by_seed_and_start_poses_are_free():
    sims = [DiffDriveSim(SimConfig(), layout_seed=seed) for seed in (0, 1)]
    maps = [s.arena_map() for s in sims]
    assert [(o.kind, round(o.x, 3), round(o.y, 3)) for o in maps[0].obstacles] != [
        (o.kind, round(o.x, 3), round(o.y, 3)) for o in maps[1].obstacles
    ]
    rng = np.random.default_rng(3)
    for sim in sims:
        arena = sim.arena_map()
        assert arena.layout_seed in (0, 1) and 3 <= len(arena.obstacles) <= 7
        poses = np.array([sim.sample_free_pose(rng) for _ in range(50)])
        assert signed_distance(arena, poses[:, :2]).min() > arena.robot_radius_m
        goal = sim.sample_goal(rng, min_distance_m=1.5)
        assert math.hypot(goal[0] - sim.pose()[0], goal[1] - sim.pose()[1]) >= 1.5
        sim.close()
    # reset(layout_seed) switches layouts in place.
    sim = DiffDriveSim(SimConfig(), layout_seed=0)
    sim.reset(layout_seed=1)
    assert sim.arena_map() == maps[1]
    sim.close()


def test_render_is_rgb_at_the_configured_size_and_sees_obstacles():
    sim = DiffDriveSim(SimConfig(camera_width=48, camera_height=32), layout_seed=5)
    obstacle = sim.arena_map().obstacles[0]
    # Face the first obstacle from 1 m away: its saturated colour fills the middle of the view.
    sim.reset(start_pose=(obstacle.x - 0.9, obstacle.y, 0.0))
    image = sim.render()
    assert image.shape == (32, 48, 3) and image.dtype == np.uint8
    colour = np.array(sim.layout.colours_rgb[0]) * 255
    centre = image[14:18, 22:26].reshape(-1, 3).astype(float)
    floor_or_wall = image[-2:, :].reshape(-1, 3).astype(float)
    assert np.linalg.norm(centre.mean(0) / 255 - colour / 255) < np.linalg.norm(
        floor_or_wall.mean(0) / 255 - colour / 255
    )
    sim.close()


def test_odometry_noise_drifts_from_truth_only_when_enabled():
    clean = DiffDriveSim(EMPTY, layout_seed=2)
    noisy = DiffDriveSim(
        SimConfig(
            obstacles_min=0,
            obstacles_max=0,
            odom_noise_linear_frac=0.2,
            odom_noise_angular_frac=0.2,
        ),
        layout_seed=2,
    )
    for sim in (clean, noisy):
        sim.reset(start_pose=(-1.0, -1.0, 0.5))
        drive(sim, (0.4, 0.5), 3.0)
    np.testing.assert_array_equal(clean.odometry()[0], clean.pose())
    assert np.linalg.norm(noisy.odometry()[0][:2] - noisy.pose()[:2]) > 1e-3
    clean.close()
    noisy.close()


def test_invalid_config_is_rejected_naming_the_field():
    with pytest.raises(ValueError, match="camera_fovy_deg"):
        DiffDriveSim(SimConfig(camera_fovy_deg=200.0))


def test_exploration_policy_stops_starts_from_rest_and_is_deterministic():
    """Stop-and-go: zero commands held for a while, followed by starts from rest; same rng, same
    commands."""
    from world_model_ros.sim.explore import ExplorationPolicy, ExploreConfig

    def commands(seed: int) -> np.ndarray:
        policy = ExplorationPolicy(ExploreConfig(), np.random.default_rng(seed))
        return np.array([policy.command(0.1) for _ in range(6000)])  # 10 simulated minutes

    vw = commands(3)
    np.testing.assert_array_equal(vw, commands(3))
    config = ExploreConfig()
    assert np.all(vw[:, 0] <= config.max_v_mps + 1e-9) and np.all(
        vw[:, 0] >= config.min_v_mps - 1e-9
    )
    assert np.all(np.abs(vw[:, 1]) <= config.max_w_radps + 1e-9)
    at_rest = np.all(vw == 0.0, axis=1)
    assert 0.03 < at_rest.mean() < 0.2  # at rest in free space is common, not dominant
    starts = np.flatnonzero(at_rest[:-1] & ~at_rest[1:])  # last zero command before a non-zero one
    forward_starts = [k for k in starts if vw[k + 1, 0] > 0.1]
    assert len(forward_starts) >= 10
    creeping = (vw[:, 0] > 0.0) & (vw[:, 0] < 0.12) & (np.abs(vw[:, 1]) < 1.0)
    assert creeping.mean() > 0.03
    braking = np.flatnonzero(
        (np.diff(vw[:, 0]) < 0)
        & (vw[1:, 0] > 0)
        & at_rest[np.minimum(np.arange(1, len(vw)) + 15, len(vw) - 1)]
    )
    assert len(braking) > 0  # ramps down to rest


def test_exploration_policy_backs_off_after_pushing():
    from world_model_ros.sim.explore import ExplorationPolicy, ExploreConfig

    config = ExploreConfig()
    policy = ExplorationPolicy(config, np.random.default_rng(0))
    steps = int(round(config.back_off_after_s / 0.1))
    vw = [policy.command(0.1, touching=True) for _ in range(steps)]
    assert vw[-1][0] == pytest.approx(config.min_v_mps)
