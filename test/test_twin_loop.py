"""The three nodes as processes over DDS: the planner plans from the twin's state to a goal.

sim_node (the embedded simulator on simulated time), world_model_node (the learned model,
publishing world_model/state) and mpc_planner_node (state_source: twin: no camera of its own)
drive to a goal, as `ros2 launch world_model_ros demo.launch.py` does; this is
`world-model-ros demo --ros` on one layout.
"""

import numpy as np
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_the_planner_drives_to_a_goal_from_the_twins_state(tmp_path):
    from world_model_ros.cli.demo_ros import run_ros_episodes
    from world_model_ros.sim.arena import signed_distance
    from world_model_ros.sim.demo_runner import DemoConfig, EpisodeSetup
    from world_model_ros.sim.simulator import DiffDriveSim, SimConfig

    # The twin's pipeline is under test here, not the planner on a hard layout (the demo's
    # figures measure that): a goal 1.5 m straight ahead of the start, on open floor.
    layout = 10_002
    sim = DiffDriveSim(SimConfig(), layout_seed=layout)
    start = sim.pose()  # sim_node starts here too: the layout's own start pose
    ahead = np.linspace(0.0, 1.5, 16)[:, None] * [np.cos(start[2]), np.sin(start[2])]
    path_xy = start[:2] + ahead
    assert signed_distance(sim.layout.arena, path_xy).min() > 0.3  # open floor all the way
    goal = (*path_xy[-1], float(start[2]))
    sim.close()
    setup = EpisodeSetup(layout, tuple(start), tuple(goal))
    demo = DemoConfig(max_episode_s=60.0)
    [result] = run_ros_episodes("latent", "latent", "", [setup], demo, tmp_path, 0, list)
    logs = tmp_path / "ros_logs"
    planner_log = next(logs.glob("*mpc_planner_node.log")).read_text()
    assert "from the twin's state" in planner_log
    assert result.status == "reached", (result.status, planner_log[-2000:])
    assert len(result.planning_ms) > 10  # plans came over DDS, planned from twin states
