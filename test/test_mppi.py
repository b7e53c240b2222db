"""MPPI and its critics on hand-made problems (pure core, no ROS, no simulator)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from world_model_ros.core.config import from_mapping
from world_model_ros.core.geometry import integrate_unicycle
from world_model_ros.core.model.contract import LatentState, Observation
from world_model_ros.core.model.kinematic import KinematicPredictor
from world_model_ros.core.model.occupancy_head import OccupancyHeadConfig, cells_in_world
from world_model_ros.core.planning import critics as costs
from world_model_ros.core.planning.contact_memory import ContactMemoryConfig
from world_model_ros.core.planning.detour import Detour, DetourConfig
from world_model_ros.core.planning.goal import GoalTolerance, goal_reached
from world_model_ros.core.planning.mppi import MppiConfig, MppiPlanner, PlanningError


def start(model, pose=(0.0, 0.0, 0.0), twist=(0.0, 0.0)) -> LatentState:
    return model.encode(
        Observation(0.0, None, np.array(pose, dtype=np.float32), np.array(twist, dtype=np.float32))
    )


class DiskObstacleModel(KinematicPredictor):
    """The kinematic model plus a known round obstacle: collision probability 1 inside it."""

    def __init__(self, centre_xy=(1.0, 0.0), radius_m=0.35):
        super().__init__()
        self.centre = torch.tensor(centre_xy)
        self.radius_m = radius_m

    def rollout(self, latent, actions_bh2):
        rollout = super().rollout(latent, actions_bh2)
        inside = (
            torch.linalg.vector_norm(rollout.poses_bh3[..., :2] - self.centre, dim=-1)
            < self.radius_m
        )
        rollout.collision_prob_bh = inside.float()
        return rollout


class SeeingModel(KinematicPredictor):
    """Blind rollouts (the kinematic model), but an occupancy head that sees a round obstacle:
    the cells whose centre lies inside it are occupied, the others free."""

    def __init__(self, centre_xy=(1.0, 0.0), radius_m=0.35):
        super().__init__()
        self.centre, self.radius_m = torch.tensor(centre_xy), radius_m
        self.cells_c2 = OccupancyHeadConfig().cells_c2()

    def occupancy(self, latent):
        world = cells_in_world(self.cells_c2, latent.pose_3.reshape(1, 3))[0]
        inside = torch.linalg.vector_norm(world - self.centre, dim=-1) < self.radius_m
        return self.cells_c2, torch.where(inside, 6.0, -6.0)


class BrokenModel(KinematicPredictor):
    def rollout(self, latent, actions_bh2):
        rollout = super().rollout(latent, actions_bh2)
        rollout.poses_bh3 = torch.full_like(rollout.poses_bh3, float("nan"))
        return rollout


def drive(model, planner, pose, goal, steps, tolerance=GoalTolerance(), on_step=None, detour=None):
    """Closed loop on the unicycle itself; returns the visited poses and whether the goal was
    reached. With a ``Detour``, the planner is given its sub-goals (as the demo and node do)."""
    pose = np.asarray(pose, dtype=np.float64)
    visited = [pose]
    twist = np.zeros(
        2
    )  # the unicycle follows its command exactly: the measured twist is the last command
    plan_end = None
    for step in range(steps):
        target = (
            goal if detour is None else detour.goal_for(step * model.dt_s, pose, goal, plan_end)
        )
        result = planner.plan(start(model, pose, twist), target)
        twist, plan_end = result.command_2, result.plan_rollout.poses_bh3[0, -1, :2].numpy()
        if on_step:
            on_step(result)
        command = torch.as_tensor(result.command_2, dtype=torch.float32).reshape(1, 1, 2)
        pose = (
            integrate_unicycle(torch.as_tensor(pose, dtype=torch.float32), command, model.dt_s)[
                0, 0
            ]
            .double()
            .numpy()
        )
        planner.shift(1)
        visited.append(pose)
        if goal_reached(pose, goal, tolerance):
            return np.array(visited), True
    return np.array(visited), False


def test_goal_straight_ahead_is_full_speed_straight():
    """The obvious optimum: a far goal dead ahead -> drive at v_max without turning."""
    model = KinematicPredictor()
    planner = MppiPlanner(model, MppiConfig(seed=1, iterations=3, a_max=100.0, alpha_max=100.0))
    for _ in range(5):
        result = planner.plan(start(model), np.array([20.0, 0.0, 0.0]))
    assert result.command_2[0] >= 0.9 * planner.config.v_max
    # Sampling leaves some yaw-rate jitter (nothing penalises it much); the path is straight.
    x_end, y_end, yaw_end = result.plan_rollout.poses_bh3[0, -1].tolist()
    assert x_end >= 0.9 * planner.config.v_max * 2.0
    assert abs(y_end) < 0.05 and abs(yaw_end) < 0.15
    assert result.plan_rollout.poses_bh3.shape == (1, 20, 3)


def test_reaches_goal_behind_with_requested_heading():
    model = KinematicPredictor()
    planner = MppiPlanner(model, MppiConfig(seed=2))
    goal = np.array([-1.0, 1.0, -math.pi / 2])
    visited, reached = drive(model, planner, (0.0, 0.0, 0.0), goal, steps=250)
    assert reached, f"ended at {visited[-1]} for goal {goal}"


def test_goes_around_an_obstacle_it_is_told_about():
    """Obstacles are known only through collision probability: the path must avoid the disk.

    MPPI alone, without the contact memory (tested in test_contact_memory.py): with it, the
    surfaces remembered all over the disk's face hold the robot in this symmetric dead end
    until the detour of core/planning/detour.py takes it round (the next test)."""
    model = DiskObstacleModel(centre_xy=(1.0, 0.0), radius_m=0.35)
    planner = MppiPlanner(model, MppiConfig(seed=3, memory=ContactMemoryConfig(enabled=False)))
    visited, reached = drive(
        model,
        planner,
        (0.0, 0.0, 0.0),
        np.array([2.0, 0.0, 0.0]),
        steps=250,
        tolerance=GoalTolerance(xy_m=0.15, yaw_rad=math.pi),
    )
    assert reached
    clearance = np.linalg.norm(visited[:, :2] - np.array([1.0, 0.0]), axis=1).min()
    assert clearance >= 0.35, f"entered the obstacle (closest {clearance:.2f} m)"


def test_with_the_memory_the_detour_takes_it_round_an_obstacle_squarely_in_the_way():
    model = DiskObstacleModel(centre_xy=(1.0, 0.0), radius_m=0.35)
    planner = MppiPlanner(model, MppiConfig(seed=3))  # contact memory on, as shipped
    detour = Detour(DetourConfig())
    visited, reached = drive(
        model,
        planner,
        (0.0, 0.0, 0.0),
        np.array([2.0, 0.0, 0.0]),
        steps=400,
        tolerance=GoalTolerance(xy_m=0.15, yaw_rad=math.pi),
        detour=detour,
    )
    assert reached, f"stuck at {np.round(visited[-1], 2)}"
    assert detour.detours >= 1
    assert np.linalg.norm(visited[:, :2] - np.array([1.0, 0.0]), axis=1).min() >= 0.35


def test_the_occupancy_map_keeps_a_blind_model_off_an_obstacle_it_saw():
    """Rollouts that predict no collision at all: only the map of what the head saw keeps the
    robot off the disk, also once it has turned away from it to go round."""
    model = SeeingModel(centre_xy=(1.0, 0.0), radius_m=0.35)
    planner = MppiPlanner(model, MppiConfig(seed=3))
    detour = Detour(DetourConfig())
    visited, reached = drive(
        model,
        planner,
        (0.0, 0.0, 0.0),
        np.array([2.0, 0.0, 0.0]),
        steps=400,
        tolerance=GoalTolerance(xy_m=0.15, yaw_rad=math.pi),
        detour=detour,
    )
    assert reached, f"stuck at {np.round(visited[-1], 2)}"
    assert np.linalg.norm(visited[:, :2] - np.array([1.0, 0.0]), axis=1).min() >= 0.3
    assert not planner.occupancy_map.empty and len(planner.memory) == 0  # the map, not the memory
    blind = MppiPlanner(model, from_mapping(MppiConfig, {"seed": 3, "occupancy.enabled": False}))
    visited, _ = drive(model, blind, (0.0, 0.0, 0.0), np.array([2.0, 0.0, 0.0]), steps=60)
    assert (
        np.linalg.norm(visited[:, :2] - np.array([1.0, 0.0]), axis=1).min() < 0.3
    )  # drives through it


def test_a_goal_behind_is_turned_to_on_the_spot_the_shorter_way():
    model = KinematicPredictor()
    planner = MppiPlanner(model, MppiConfig(seed=4, turn_in_place_rad=1.6))
    goal = np.array([-2.0, 0.4, 0.0])  # bearing 169 degrees: turning left is the shorter way
    visited, _ = drive(model, planner, (0.0, 0.0, 0.0), goal, steps=12)
    assert visited[-1, 2] > 1.2  # turned left...
    assert np.linalg.norm(visited[:, :2], axis=1).max() < 0.15  # ...on the spot
    with pytest.raises(ValueError, match="turn_in_place_rad"):
        MppiConfig(turn_in_place_rad=0.0)


@settings(max_examples=25, deadline=None)
@given(
    mean=st.lists(st.tuples(st.floats(-3, 3), st.floats(-5, 5)), min_size=10, max_size=10),
    previous=st.tuples(st.floats(-2, 2), st.floats(-4, 4)),
    seed=st.integers(0, 1000),
)
def test_samples_respect_velocity_and_acceleration_limits(mean, previous, seed):
    config = MppiConfig(num_samples=64, horizon=10, seed=seed, noise_std_v=1.0, noise_std_w=3.0)
    planner = MppiPlanner(KinematicPredictor(), config)
    previous_2 = torch.tensor(previous, dtype=torch.float32)
    samples = planner.sample(torch.tensor(mean, dtype=torch.float32), previous_2)
    v, w = samples[..., 0], samples[..., 1]
    eps = 1e-5
    assert (v >= config.v_min - eps).all() and (v <= config.v_max + eps).all()
    assert (w.abs() <= config.w_max + eps).all()
    clamped_previous = torch.stack(
        [
            previous_2[0].clamp(config.v_min, config.v_max),
            previous_2[1].clamp(-config.w_max, config.w_max),
        ]
    )
    steps = torch.diff(torch.cat([clamped_previous.expand(64, 1, 2), samples], dim=1), dim=1)
    assert (steps[..., 0].abs() <= config.a_max * planner.dt_s + eps).all()
    assert (steps[..., 1].abs() <= config.alpha_max * planner.dt_s + eps).all()


def test_plan_respects_limits_from_a_fast_previous_command():
    model = KinematicPredictor()
    config = MppiConfig(seed=4)
    planner = MppiPlanner(model, config)
    result = planner.plan(
        start(model), np.array([-3.0, 0.0, 0.0]), previous_command_2=np.array([0.5, 1.5])
    )
    plan = result.commands_h2
    assert plan[0, 0] >= 0.5 - config.a_max * 0.1 - 1e-5  # cannot brake faster than a_max
    assert plan[0, 1] >= 1.5 - config.alpha_max * 0.1 - 1e-5
    assert (plan[:, 0] <= config.v_max + 1e-5).all() and (
        plan[:, 1].abs() <= config.w_max + 1e-5
    ).all()


def test_warm_start_shifts_by_executed_steps():
    model = KinematicPredictor()
    planner = MppiPlanner(model, MppiConfig(seed=5))
    plan = planner.plan(start(model), np.array([1.0, 1.0, 0.0])).commands_h2.clone()
    planner.shift(1)
    shifted = planner.plan_h2
    torch.testing.assert_close(shifted[:-1], plan[1:])
    torch.testing.assert_close(shifted[-1], plan[-1])
    planner.shift(3)
    torch.testing.assert_close(planner.plan_h2[:-4], plan[4:])
    planner.reset()
    assert (planner.plan_h2 == 0).all()


def test_warm_start_is_the_first_sample():
    model = KinematicPredictor()
    planner = MppiPlanner(model, MppiConfig(seed=6, num_samples=8, horizon=5))
    mean = torch.full((5, 2), 0.1)
    samples = planner.sample(mean, torch.tensor([0.1, 0.1]))
    torch.testing.assert_close(samples[0], mean)
    assert samples[1, -1, 0] == 0.0  # the braking sample stops


def test_seeded_planner_is_deterministic():
    model = KinematicPredictor()
    a = MppiPlanner(model, MppiConfig(seed=7)).plan(start(model), np.array([1.0, 0.5, 0.0]))
    b = MppiPlanner(model, MppiConfig(seed=7)).plan(start(model), np.array([1.0, 0.5, 0.0]))
    torch.testing.assert_close(a.commands_h2, b.commands_h2)


def test_non_finite_model_output_is_a_planning_error():
    model = BrokenModel()
    with pytest.raises(PlanningError, match="NaN"):
        MppiPlanner(model, MppiConfig(seed=8)).plan(start(model), np.array([1.0, 0.0, 0.0]))


def test_config_from_mapping_checks_names_and_values():
    config = from_mapping(
        MppiConfig,
        {"num_samples": 128, "costs.collision_weight": 7.0, "costs": {"goal_weight": 2}},
    )
    assert (
        config.num_samples == 128
        and config.costs.collision_weight == 7.0
        and config.costs.goal_weight == 2.0
    )
    with pytest.raises(ValueError, match="temperature"):  # suggested for the typo
        from_mapping(MppiConfig, {"tempreature": 1.0}, where="config/mpc_planner.yaml")
    with pytest.raises(ValueError, match="num_samples.*integer.*'many'"):
        from_mapping(MppiConfig, {"num_samples": "many"})
    with pytest.raises(ValueError, match="v_min"):
        MppiConfig(v_min=0.1)
    with pytest.raises(ValueError, match="collision_weight"):
        costs.CostConfig(collision_weight=-1.0)


def test_collision_critic_prefers_late_over_early_contact():
    p = torch.zeros(3, 10)
    p[1, 8:] = 1.0  # late contact
    p[2, 1:] = 1.0  # early contact
    c = costs.collision(p)
    assert c[0] == 0.0 and 0.0 < c[1] < c[2] <= 1.0
    assert costs.collision_terminal(p).tolist() == [0.0, 1.0, 1.0]


def test_heading_critic_blends_into_goal_yaw_when_near():
    goal = torch.tensor([1.0, 0.0, math.pi / 2])
    far_facing_goal = torch.tensor([[[0.0, 0.0, 0.0]]])
    at_goal_wrong_yaw = torch.tensor([[[1.0, 0.0, 0.0]]])
    assert costs.heading(far_facing_goal, goal, 0.3, True).item() == pytest.approx(0.0, abs=1e-6)
    assert costs.heading(at_goal_wrong_yaw, goal, 0.3, True).item() == pytest.approx(
        math.pi / 2, abs=1e-5
    )
    assert costs.heading(at_goal_wrong_yaw, goal, 0.3, False).item() == 0.0
    # Continuous across the near distance: no step for MPPI to stall at.
    just_outside, just_inside = (torch.tensor([[[1.0 - d, 0.0, 0.0]]]) for d in (0.301, 0.299))
    assert (
        abs(
            costs.heading(just_outside, goal, 0.3, True)
            - costs.heading(just_inside, goal, 0.3, True)
        )
        < 0.02
    )


def test_goal_reached_tolerances():
    tol = GoalTolerance(xy_m=0.1, yaw_rad=0.2)
    assert goal_reached(np.array([0.05, 0.0, 3.1]), np.array([0.0, 0.0, -3.1]), tol)  # yaw wraps
    assert not goal_reached(np.array([0.05, 0.0, 0.5]), np.array([0.0, 0.0, 0.0]), tol)
    assert not goal_reached(np.array([0.2, 0.0, 0.0]), np.array([0.0, 0.0, 0.0]), tol)
    assert goal_reached(
        np.array([0.05, 0.0, 2.0]), np.array([0.0, 0.0, 0.0]), GoalTolerance(0.1, math.pi)
    )


def test_detour_after_no_progress_then_back_to_the_goal():
    from world_model_ros.core.planning.detour import Detour, DetourConfig

    detour = Detour(
        DetourConfig(no_progress_s=3.0, duration_s=2.0, angle_rad=math.pi / 2, distance_m=1.0)
    )
    pose, goal = np.array([0.0, 0.0, 0.0]), np.array([3.0, 0.0, 0.0])
    assert detour.goal_for(0.0, pose, goal) is goal
    assert detour.goal_for(2.9, pose, goal) is goal  # not yet: no progress for < 3 s
    sub = detour.goal_for(3.1, pose, goal, plan_end_xy=np.array([0.5, -0.2]))  # plan leaned right
    np.testing.assert_allclose(sub[:2], [0.0, -1.0], atol=1e-9)
    assert detour.active and detour.goal_for(4.0, pose, goal) is sub
    assert detour.goal_for(5.2, pose, goal) is goal and not detour.active  # the detour lasted 2 s
    second = detour.goal_for(8.3, pose, goal)  # still stuck: the other side
    np.testing.assert_allclose(second[:2], [0.0, 1.0], atol=1e-9)
    assert detour.detours == 2
    detour.reset()
    assert detour.goal_for(9.0, np.array([2.0, 0.0, 0.0]), goal) is goal


def test_the_contact_gain_changes_what_the_model_reports_not_what_the_planner_picks():
    """The calibration's contact gain widens the reported variance where a contact is
    foreseen; the collision critics price that contact already, so the plan stays the same."""
    from world_model_ros.core.model.latent_model import (
        HEAD_COLLISION,
        HEAD_POS_VAR,
        LatentDynamicsModel,
        LatentModelConfig,
    )
    from world_model_ros.core.model.latent_predictor import LatentPredictor

    torch.manual_seed(0)
    config = LatentModelConfig(
        image_size=32, encoder_channels=(8, 16), image_features=32, latent_dim=16, hidden_dim=32
    )
    net = LatentDynamicsModel(config)
    with torch.no_grad():  # contacts likely and variances large: what the gain acts on
        net.out.bias[config.latent_dim + HEAD_COLLISION] = 0.0
        net.out.bias[config.latent_dim + HEAD_POS_VAR] = 2.0
        net.out.weight[config.latent_dim + HEAD_COLLISION].mul_(50.0)
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    observation = Observation(0.0, image, np.zeros(3, np.float32), np.zeros(2, np.float32))
    results = []
    for gain in (0.0, 8.0):
        predictor = LatentPredictor(
            net.with_variance_calibration(1.0, 1.0, gain), torch.device("cpu"), horizon=20
        )
        planner = MppiPlanner(predictor, MppiConfig(seed=3))
        results.append(planner.plan(predictor.encode(observation), np.array([1.5, 0.5, 0.0])))
    plain, gained = results
    assert (gained.plan_rollout.position_var_bh > plain.plan_rollout.position_var_bh * 1.5).any()
    torch.testing.assert_close(gained.commands_h2, plain.commands_h2)
    assert gained.plan_cost_terms["uncertainty"] == pytest.approx(
        plain.plan_cost_terms["uncertainty"], rel=1e-4
    )
