"""The demo's closed loop in the simulator (lockstep, no DDS) and its outputs."""

import math
from types import SimpleNamespace

import numpy as np

from world_model_ros.core.evaluation.demo_metrics import summarise, summary_table
from world_model_ros.core.model.kinematic import KinematicPredictor
from world_model_ros.core.planning.controller_config import ControllerConfig
from world_model_ros.core.planning.goal_controller import GoalController
from world_model_ros.core.planning.mppi import MppiConfig
from world_model_ros.sim.demo_runner import (
    DemoConfig,
    EpisodeSetup,
    demo_controller_config,
    run_episode,
)
from world_model_ros.sim.simulator import DiffDriveSim, SimConfig


def test_reaches_a_goal_in_an_open_arena():
    sim = DiffDriveSim(SimConfig(obstacles_min=0, obstacles_max=0), layout_seed=10_000)
    model = KinematicPredictor()
    config = demo_controller_config(ControllerConfig(mppi=MppiConfig(num_samples=256, seed=0)))
    controller = GoalController(model, config)
    setup = EpisodeSetup(
        10_000, (-1.5, -1.0, math.pi / 2), (1.5, 1.0, 0.0)
    )  # goal behind-right of the start
    demo = DemoConfig(max_episode_s=25.0, controller=config)
    result = run_episode(sim, model, controller, setup, "kinematic", demo)
    assert result.status == "reached", result.status
    assert not result.collided
    assert result.final_distance_m <= config.xy_goal_tolerance
    assert 3.6 / 0.5 < result.time_s < 20.0  # straight-line distance 3.6 m at <= 0.5 m/s
    assert len(result.planning_ms) == len(result.path_xyyaw) - 1


def test_summary_counts_and_table():
    episodes = [
        SimpleNamespace(
            reached=True, collided=False, time_s=10.0, planning_ms=[1.0, 3.0], prediction_ms=[0.5]
        ),
        SimpleNamespace(
            reached=False, collided=True, time_s=40.0, planning_ms=[2.0], prediction_ms=[0.5]
        ),
    ]
    s = summarise("latent", episodes)
    assert (s.episodes, s.reached, s.collided, s.reached_without_collision) == (2, 1, 1, 1)
    assert s.success_rate == 0.5 and s.time_to_goal_s_mean == 10.0 and s.planning_ms_p50 == 2.0
    assert "MPPI on latent" in summary_table([s]) and "1/2 (50 %)" in summary_table([s])


def test_demo_command_writes_summary_plot_and_a_readable_bag(tmp_path):
    """`world-model-ros demo` end to end on one layout (kinematic model), then read the bag
    back."""
    from rosbags.highlevel import AnyReader

    from world_model_ros.cli.main import main
    from world_model_ros.sim.demo_bag import DemoBag

    out = tmp_path / "demo"
    assert (
        main(
            [
                "demo",
                "--model",
                "kinematic",
                "--episodes",
                "1",
                "--samples",
                "128",
                "--out",
                str(out),
                "--no-progress",
                "--max-episode-s",
                "15",
            ]
        )
        == 0
    )
    assert (out / "paths.png").stat().st_size > 10_000
    assert '"planner": "kinematic"' in (out / "summary.json").read_text()
    store = DemoBag(tmp_path / "unused").store  # knows the package's messages
    with AnyReader([out / "demo_bag"], default_typestore=store) as reader:
        topics = {c.topic for c in reader.connections}
        assert {
            "/camera/image_raw",
            "/odom",
            "/cmd_vel",
            "/mpc_planner/plan",
            "/mpc_planner/markers",
            "/demo/arena",
            "/tf",
        } <= topics
        plans = [c for c in reader.connections if c.topic == "/mpc_planner/plan"]
        _, stamp_ns, raw = next(reader.messages(connections=plans))
        plan = reader.deserialize(raw, plans[0].msgtype)
        assert plan.header.frame_id == "odom" and len(plan.states) == len(plan.actions) == 20
        assert np.isfinite(plan.states[-1].pose.position.x)
        assert plan.header.stamp.sec * 10**9 + plan.header.stamp.nanosec == stamp_ns


def test_the_bag_holds_the_occupancy_map_as_an_occupancy_grid(tmp_path):
    import torch
    from rosbags.highlevel import AnyReader

    from world_model_ros.core.model.occupancy_head import OccupancyHeadConfig
    from world_model_ros.core.planning.occupancy_map import OccupancyMap
    from world_model_ros.sim.demo_bag import DemoBag

    occupancy = OccupancyMap()
    cells = OccupancyHeadConfig().cells_c2()
    logits = torch.where(cells[:, 0] > 1.0, 6.0, -6.0)  # blocked beyond 1 m ahead
    with DemoBag(tmp_path / "bag") as bag:
        bag.occupancy(0, occupancy)  # empty: nothing written
        occupancy.update(torch.tensor([0.5, 0.0, 0.0]), cells, logits)
        bag.occupancy(10**9, occupancy)
    with AnyReader([tmp_path / "bag"], default_typestore=bag.store) as reader:
        grids = [c for c in reader.connections if c.topic == "/mpc_planner/occupancy"]
        messages = list(reader.messages(connections=grids))
        assert len(messages) == 1
        grid = reader.deserialize(messages[0][2], grids[0].msgtype)
    data = np.asarray(grid.data).reshape(grid.info.height, grid.info.width)

    def at(x: float, y: float) -> int:
        row = int((y - grid.info.origin.position.y) / 0.05)
        return int(data[row, int((x - grid.info.origin.position.x) / 0.05)])

    assert (
        grid.header.frame_id == "odom"
        and at(1.8, 0.02) > 50
        and 0 <= at(1.2, 0.02) < 50
        and at(0.0, 0.0) == -1
    )
