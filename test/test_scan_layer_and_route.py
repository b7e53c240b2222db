"""The costmap's LiDAR layer and the detour's way round on it (pure core, no ROS, no simulator).

Scans are cast here against hand-made disks, so what a scan should mark and clear is known
exactly; the closed loop drives a blind model (the kinematic one: it predicts no collision at
all) whose only knowledge of obstacles is the scans it is handed.
"""

import math

import numpy as np
import pytest
import torch

from world_model_ros.core.geometry import integrate_unicycle
from world_model_ros.core.model.contract import Observation
from world_model_ros.core.model.kinematic import KinematicPredictor
from world_model_ros.core.planning.controller_config import ControllerConfig
from world_model_ros.core.planning.detour import Detour, DetourConfig
from world_model_ros.core.planning.goal import GoalState, PlanningInput
from world_model_ros.core.planning.goal_controller import GoalController
from world_model_ros.core.planning.occupancy_map import OccupancyMap, OccupancyMapConfig
from world_model_ros.core.planning.route import RouteConfig, shortest_path, way_point
from world_model_ros.core.planning.scan_layer import LaserFrame, ScanLayerConfig

BODY_M = 0.17
ANGLES = np.linspace(-math.pi, math.pi, 360, endpoint=False)


def cast(pose_3, disks, angles=ANGLES, max_range_m=8.0) -> LaserFrame:
    """A scan from a LiDAR at ``pose_3`` against disks ((x, y), r): +inf where nothing is hit."""
    pose = np.asarray(pose_3, dtype=np.float64)
    ranges = np.full(len(angles), np.inf)
    direction = np.stack([np.cos(pose[2] + angles), np.sin(pose[2] + angles)], axis=1)
    for centre, radius in disks:
        to = np.asarray(centre, dtype=np.float64) - pose[:2]
        along = direction @ to
        miss2 = to @ to - along**2
        hit = (miss2 <= radius**2) & (along > 0)
        distance = along - np.sqrt(np.maximum(radius**2 - miss2, 0.0))
        ranges = np.where(hit & (distance < ranges), distance, ranges)
    ranges[ranges > max_range_m] = np.inf
    return LaserFrame(angles, ranges, pose)


def probability(occupancy: OccupancyMap, xy) -> float:
    return float(occupancy.probability_at(torch.tensor([xy], dtype=torch.float32))[0])


def test_a_scan_marks_where_the_body_would_touch_and_clears_the_floor_in_front():
    occupancy = OccupancyMap(OccupancyMapConfig(inflation_m=0.0))
    disk = ((1.0, 0.0), 0.2)
    for _ in range(3):
        occupancy.update_scan(cast((0.0, 0.0, 0.0), [disk]), (0.0, 0.0), BODY_M)
    # a robot centred 0.75 m ahead touches the disk's near face (0.8 m) with its 0.17 m body
    assert probability(occupancy, (0.75, 0.0)) > 0.9
    assert probability(occupancy, (0.4, 0.0)) < 0.05  # the beam crossed it, far from the disk
    # no return that way (nothing within range): not cleared, the prior stays
    assert probability(occupancy, (0.0, 1.0)) == pytest.approx(occupancy.config.prior, abs=1e-3)
    # behind the disk is in its shadow: never seen, the prior stays
    assert probability(occupancy, (1.6, 0.0)) == pytest.approx(occupancy.config.prior, abs=1e-3)


@pytest.mark.parametrize("overrule", [False, True])
def test_a_beam_without_a_return_clears_nothing_and_paths_trust_the_scan_over_the_head(overrule):
    """The head guesses a blocked blob where a scan sees the floor. Paths are planned on the
    scan's word; the rollouts take the higher of the two (the head may see an obstacle below
    the scan plane) unless told to let the scan overrule the head (here everywhere: the
    explanation rule has its own test)."""
    scan = ScanLayerConfig(overrule_head=overrule, explained_within_m=0.0)
    config = OccupancyMapConfig(inflation_m=0.0, scan=scan)
    occupancy = OccupancyMap(config)
    cells = torch.tensor([[x, y] for x in np.arange(0.3, 1.2, 0.1) for y in (-0.1, 0.0, 0.1)])
    for _ in range(4):
        occupancy.update(torch.zeros(3), cells.float(), torch.full((len(cells),), 6.0))
    assert probability(occupancy, (0.6, 0.0)) > 0.9
    empty = cast((0.0, 0.0, 0.0), [])  # no returns at all: a dropout must not erase
    occupancy.update_scan(empty, (0.0, 0.0), BODY_M)
    assert not occupancy.has_scans or occupancy.measured_probability_xy().max() > 0.9
    wall_behind = cast((0.0, 0.0, 0.0), [((2.5, 0.0), 1.0)])  # returns at 1.5 m: floor seen
    for _ in range(3):
        occupancy.update_scan(wall_behind, (0.0, 0.0), BODY_M)
    assert occupancy.has_scans
    index = ((torch.tensor([0.6, 0.0]) - occupancy.origin_2) / config.resolution_m).long()
    assert float(occupancy.measured_probability_xy()[index[0], index[1]]) < 0.2
    assert (probability(occupancy, (0.6, 0.0)) < 0.2) == overrule
    assert probability(occupancy, (1.4, 0.0)) > 0.9  # the wall, marked either way
    percent = occupancy.occupancy_percent_yx()
    assert (percent >= 0).any() and (percent == -1).any()  # seen cells and never-seen ones


def test_the_head_keeps_its_word_on_a_blob_no_return_explains():
    """A tall post the scan hits, with the head's blurred blob around it, and a low box the scan
    plane passes over that only the camera sees: the scan overrules the blob next to what it hit
    but not the lone one, for the rollouts and for paths alike."""
    config = OccupancyMapConfig(inflation_m=0.0, scan=ScanLayerConfig(explained_within_m=0.5))
    occupancy = OccupancyMap(config)
    post, blob, low_box = (1.6, 0.43), (1.1, 0.3), (1.2, -0.6)  # all in the camera's view
    cells = torch.tensor(
        [
            [cx + dx, cy + dy]
            for cx, cy in (blob, low_box)
            for dx in (-0.1, 0.0, 0.1)
            for dy in (-0.1, 0.0, 0.1)
        ]
    )
    for _ in range(4):
        occupancy.update(torch.zeros(3), cells.float(), torch.full((len(cells),), 6.0))
    # the post (its returns lie behind the blob) and, behind the low box, a box the plane hits
    frame = cast((0.0, 0.0, 0.0), [(post, 0.2), ((2.6, -1.3), 0.3)])
    for _ in range(3):
        occupancy.update_scan(frame, (0.0, 0.0), BODY_M)
    box = low_box
    assert probability(occupancy, blob) < 0.2  # the scan saw the floor short of the post
    assert probability(occupancy, box) > 0.9  # nothing it hit is near: the camera's word
    measured = occupancy.measured_probability_xy()
    index = ((torch.tensor(box) - occupancy.origin_2) / config.resolution_m).long()
    assert float(measured[index[0], index[1]]) > 0.9  # paths go round the low box too
    everywhere = OccupancyMap(
        OccupancyMapConfig(inflation_m=0.0, scan=ScanLayerConfig(explained_within_m=0.0))
    )
    everywhere.update(torch.zeros(3), cells.float(), torch.full((len(cells),), 6.0))
    everywhere.update_scan(frame, (0.0, 0.0), BODY_M)
    assert probability(everywhere, box) < 0.2


def test_a_scan_turning_the_other_way_marks_and_clears_the_same_cells():
    disk = ((1.0, 0.3), 0.2)
    forward = cast((0.0, 0.0, 0.0), [disk])
    backward = LaserFrame(forward.angles_n[::-1], forward.ranges_n[::-1], forward.sensor_pose_3)
    grids = []
    for frame in (forward, backward):
        occupancy = OccupancyMap()
        occupancy.update_scan(frame, (0.0, 0.0), BODY_M)
        grids.append(occupancy.scan_log_odds_xy)
    assert torch.equal(grids[0], grids[1]) and (grids[0] > 0).any() and (grids[0] < 0).any()
    nothing = LaserFrame(np.zeros(0), np.zeros(0), np.zeros(3))
    assert OccupancyMap().update_scan(nothing, (0.0, 0.0), BODY_M) == 0


def test_the_scan_layer_can_be_switched_off_and_bad_frames_are_refused():
    occupancy = OccupancyMap(OccupancyMapConfig(scan=ScanLayerConfig(enabled=False)))
    assert occupancy.update_scan(cast((0, 0, 0), [((1.0, 0.0), 0.2)]), (0, 0), BODY_M) == 0
    assert occupancy.empty
    with pytest.raises(ValueError, match="as many angles as ranges"):
        LaserFrame(ANGLES, np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="not finite"):
        LaserFrame(ANGLES, np.ones(360), np.array([0.0, math.nan, 0.0]))


def test_shortest_path_goes_through_the_gap_and_never_crosses_a_blocked_cell():
    grid = np.zeros((20, 20))
    grid[10, :] = 1.0  # a wall across ...
    grid[10, 16:18] = 0.0  # ... with a gap near one end
    path = shortest_path(grid, (2, 5), (18, 5), RouteConfig())
    assert path[0] == (2, 5) and path[-1] == (18, 5)
    assert all(grid[i, j] < 0.5 for i, j in path)
    assert any(i == 10 and j in (16, 17) for i, j in path)
    grid[10, 16:18] = 1.0  # closed: the reachable cell nearest the goal
    closed = shortest_path(grid, (2, 5), (18, 5), RouteConfig())
    assert closed[-1] == (9, 5)


def wall_map(gap_y: float) -> OccupancyMap:
    """A map that holds a wall across x = 1 (y from -1.5 to 1.5) but for a gap at ``gap_y``."""
    occupancy = OccupancyMap(OccupancyMapConfig(inflation_m=0.0))
    wall = [((1.0, y), 0.06) for y in np.arange(-1.5, 1.55, 0.1) if abs(y - gap_y) > 0.45]
    for pose in ((0.0, 0.0, 0.0), (0.0, 0.8, 0.0), (0.0, -0.8, 0.0)):
        occupancy.update_scan(cast(pose, wall), (0.0, 0.0), BODY_M)
        occupancy.update_scan(cast(pose, wall), (0.0, 0.0), BODY_M)
    return occupancy


def test_the_way_point_leads_to_the_gap_and_there_is_none_when_nothing_is_in_the_way():
    occupancy = wall_map(gap_y=-1.0)
    ahead = way_point(occupancy, np.zeros(3), np.array([2.0, 0.0, 0.0]), 0.8)
    assert ahead is not None and ahead[1] < -0.3, f"not towards the gap: {ahead}"
    open_map = OccupancyMap()
    open_map.update_scan(cast((0.0, 0.0, 0.0), [((0.0, 3.0), 0.2)]), (0.0, 0.0), BODY_M)
    assert way_point(open_map, np.zeros(3), np.array([2.0, 0.0, 0.0]), 0.8) is None
    assert way_point(OccupancyMap(), np.zeros(3), np.array([2.0, 0.0, 0.0]), 0.8) is None


@pytest.mark.parametrize("gap_y", [-1.0, 1.0])
def test_a_stuck_robot_detours_towards_the_open_side_whatever_it_leaned_to(gap_y):
    """The side rule would follow the plan's lean (here always left, +y); the map's path goes
    to the gap, on either side."""
    occupancy = wall_map(gap_y)
    detour = Detour(DetourConfig(no_progress_s=1.0))
    goal, pose, lean = np.array([2.0, 0.0, 0.0]), np.zeros(3), np.array([0.5, 0.4])
    assert detour.goal_for(0.0, pose, goal, lean, occupancy) is goal
    sub_goal = detour.goal_for(1.5, pose, goal, lean, occupancy)
    assert detour.active and detour.routed == 1
    assert np.sign(sub_goal[1]) == np.sign(gap_y), f"sub-goal {sub_goal} for the gap at {gap_y}"
    blind = Detour(DetourConfig(no_progress_s=1.0))
    blind.goal_for(0.0, pose, goal, lean)
    assert blind.goal_for(1.5, pose, goal, lean)[1] > 0 and blind.routed == 0


def test_a_blind_model_with_a_lidar_gets_round_two_posts_to_a_goal_behind_them():
    """The kinematic model predicts no collision at all; the scans alone fill the map, and the
    detour's path takes the robot out of the pocket the posts make."""
    posts = [((0.9, 0.35), 0.2), ((0.9, -0.35), 0.2)]  # 0.3 m apart: too narrow for the body
    model = KinematicPredictor()
    controller = GoalController(model, ControllerConfig())
    pose, twist, goal = np.zeros(3), np.zeros(2), np.array([2.0, 0.0, 0.0])
    controller.set_goal(goal, 0.0)
    closest, state = math.inf, None
    for step in range(600):
        now = step * model.dt_s
        latent = model.encode(
            Observation(now, None, pose.astype(np.float32), twist.astype(np.float32))
        )
        output = controller.step(PlanningInput(now, latent, cast(pose, posts)), now)
        state = output.status.state
        if state is not GoalState.ACTIVE:
            break
        twist = output.command_2
        command = torch.as_tensor(twist, dtype=torch.float32).reshape(1, 1, 2)
        start = torch.as_tensor(pose, dtype=torch.float32)
        pose = integrate_unicycle(start, command, model.dt_s)[0, 0].double().numpy()
        closest = min(closest, *(np.hypot(*(pose[:2] - c)) - r for c, r in posts))
    assert state is GoalState.REACHED, f"{state} at {np.round(pose, 2)}"
    assert closest >= BODY_M - 0.02, f"the body came within {closest:.2f} m of a post's centre"
    assert controller.detour.routed >= 1
