"""The planner's short-term memory of predicted contacts (core/planning/contact_memory.py), on
hand-made models."""

import math

import numpy as np
import pytest
import torch
from test_mppi import DiskObstacleModel

from world_model_ros.core.config import from_mapping
from world_model_ros.core.model.contract import LatentState, Observation
from world_model_ros.core.planning.contact_memory import ContactMemory, ContactMemoryConfig
from world_model_ros.core.planning.mppi import MppiConfig, MppiPlanner


def straight_rollouts(probabilities_bh: torch.Tensor, speed_mps: float = 0.05) -> torch.Tensor:
    """Poses along +x at ``speed_mps`` per step for every row (only the positions matter)."""
    b, h = probabilities_bh.shape
    poses = torch.zeros(b, h, 3)
    poses[..., 0] = speed_mps * torch.arange(1, h + 1)
    return poses


def test_remembers_each_rollouts_first_confident_contact():
    memory = ContactMemory(ContactMemoryConfig(probability=0.9, cell_m=0.05, body_radius_m=0.0))
    p = torch.zeros(3, 20)
    p[0, 10:] = 0.95  # first confident contact at step 10 -> x = 0.55
    p[1, 4:] = 0.6  # never confident: not remembered
    p[2, 15] = 0.99  # x = 0.80
    assert memory.add_from_rollouts(straight_rollouts(p), p) == 2
    assert sorted(memory.points_m2[:, 0].tolist()) == pytest.approx([0.55, 0.80])


def test_remembers_the_surface_one_body_radius_on_in_the_direction_of_motion():
    memory = ContactMemory(ContactMemoryConfig(probability=0.9, cell_m=0.01, body_radius_m=0.17))
    p = torch.zeros(3, 20)
    p[:, 10:] = 0.95  # sure of contact from step 10 on
    poses = torch.zeros(3, 20, 3)
    poses[0, :, 0] = 0.05 * torch.arange(1, 21)  # along +x: contact with the centre at x = 0.55
    poses[1, :, 1] = -0.05 * torch.arange(1, 21)  # along -y (yaw says +x: the motion decides)
    poses[2, :, :2] = 0.3  # not moving, but sure from step 10: no side to put a surface on
    assert memory.add_from_rollouts(poses, p, start_pose_3=torch.tensor([0.3, 0.3, 0.0])) == 2
    assert sorted(memory.points_m2.tolist()) == [
        pytest.approx([0.0, -0.72]),
        pytest.approx([0.72, 0.0]),
    ]


def test_ramp_is_one_inside_and_zero_beyond_the_radius():
    # Measured from the surface: the body (0.17) plus inner_m / radius_m.
    memory = ContactMemory(ContactMemoryConfig(inner_m=0.05, radius_m=0.15, body_radius_m=0.17))
    memory.remember(torch.tensor([[1.0, 0.0]]))
    poses = torch.zeros(1, 4, 3)
    poses[0, :, 0] = torch.tensor([1.0, 1.21, 1.27, 1.33])
    p = memory.collision_prob(poses, start_xy_2=torch.tensor([0.0, 0.0]))
    assert p[0].tolist() == pytest.approx([1.0, 1.0, 0.5, 0.0], abs=1e-5)


def test_a_corner_remembered_from_the_front_still_repels_a_robot_rounding_it():
    """Driving at a box's corner along +x, the model is sure of contact with the centre 17 cm
    short of it. Later the robot rounds the corner, its centre a body radius plus 3 cm below
    it: remembered as a surface the corner costs there; remembered as a centre position it
    did not (that is how most of the demo's last flank grazes happened)."""
    corner = torch.tensor([1.0, 0.0])
    approach = torch.zeros(1, 20, 3)
    approach[0, :, 0] = 0.05 * torch.arange(1, 21)
    sure = (approach[..., 0] >= corner[0] - 0.17).float()
    rounding = torch.zeros(1, 1, 3)
    rounding[0, 0, :2] = corner - torch.tensor([0.0, 0.17 + 0.03])
    start = torch.tensor([0.0, 0.0, 0.0])
    charged = []
    for body_radius_m in (0.0, 0.17):
        memory = ContactMemory(ContactMemoryConfig(cell_m=0.01, body_radius_m=body_radius_m))
        memory.add_from_rollouts(approach, sure, start)
        charged.append(float(memory.collision_prob(rounding, start_xy_2=start[:2])[0, 0]))
    assert charged[0] == 0.0 and charged[1] >= 0.99


def test_near_a_remembered_contact_only_getting_closer_costs():
    """A robot stopped 10 cm from a remembered contact may stay or leave; approaching costs."""
    memory = ContactMemory(ContactMemoryConfig(inner_m=0.05, radius_m=0.15))
    memory.remember(torch.tensor([[1.0, 0.0]]))
    start = torch.tensor([0.9, 0.0])
    poses = torch.zeros(3, 1, 3)
    poses[:, 0, 0] = torch.tensor([0.8, 0.9, 0.95])  # away, stay, closer
    poses[1, 0, 1] = 0.0
    p = memory.collision_prob(poses, start_xy_2=start)[:, 0]
    assert p[0] == 0.0 and p[1] == 0.0 and p[2] > 0.5
    # Standing on a remembered position says nothing about where to go.
    assert memory.collision_prob(poses, start_xy_2=torch.tensor([1.0, 0.0])) is None


def test_forgets_after_its_lifetime_and_keeps_the_newest_when_full():
    memory = ContactMemory(ContactMemoryConfig(lifetime_s=1.0, max_points=2))
    memory.remember(torch.tensor([[0.0, 0.0]]))
    memory.age(0.6)
    memory.remember(
        torch.tensor([[0.05, 0.0], [0.10, 0.0]])
    )  # three points, room for two: the oldest goes
    assert sorted(memory.points_m2[:, 0].tolist()) == pytest.approx([0.05, 0.10])
    memory.remember(torch.tensor([[0.05, 0.0]]))  # seen again: refreshed, not duplicated
    assert len(memory) == 2
    memory.age(0.7)
    assert len(memory) == 2
    memory.age(0.4)  # [2, 0] is now 1.1 s old, [1, 0] too -> both gone
    assert len(memory) == 0


def test_bad_configuration_names_the_problem():
    with pytest.raises(ValueError, match="inner_m"):
        ContactMemoryConfig(inner_m=0.2, radius_m=0.1)
    with pytest.raises(ValueError, match="probability"):
        ContactMemoryConfig(probability=1.5)
    with pytest.raises(ValueError, match="memory.radius"):
        from_mapping(MppiConfig, {"memory": {"radius": 0.2}})
    with pytest.raises(ValueError, match="body_radius_m"):
        ContactMemoryConfig(body_radius_m=-0.1)


class ForgetfulDiskModel(DiskObstacleModel):
    """Sees its round obstacle only while it lies within +-35 degrees of the robot's heading at
    the observation, like a forward camera: turn away and it predicts free space there."""

    def __init__(self):
        super().__init__(centre_xy=(1.0, 0.0), radius_m=0.3)

    def rollout(self, latent, actions_bh2):
        rollout = super().rollout(latent, actions_bh2)
        bearing = torch.atan2(*(self.centre - latent.pose_3[:2]).flip(0))
        if abs(math.remainder(float(bearing - latent.pose_3[2]), 2 * math.pi)) >= math.radians(35):
            rollout.collision_prob_bh = torch.zeros_like(rollout.collision_prob_bh)
        return rollout


def plan_after_looking_away(memory_enabled: bool):
    """Look at the obstacle for a few cycles, then plan facing 45 degrees away from it."""
    model = ForgetfulDiskModel()
    planner = MppiPlanner(
        model, MppiConfig(seed=4, memory=ContactMemoryConfig(enabled=memory_enabled))
    )
    goal = np.array([2.0, 0.0, 0.0])

    def latent(yaw: float) -> LatentState:
        return model.encode(
            Observation(
                0.0,
                None,
                np.array([0.0, 0.0, yaw], dtype=np.float32),
                np.zeros(2, dtype=np.float32),
            )
        )

    for _ in range(5):
        planner.plan(latent(0.0), goal, np.zeros(2))
    result = None
    for _ in range(5):  # turned 45 degrees: the disk is out of view, still in the way to the goal
        result = planner.plan(latent(math.pi / 4), goal, np.zeros(2))
    return result


def test_memory_keeps_the_plan_away_from_an_obstacle_no_longer_in_view():
    # The plan under test is the lowest-cost sampled rollout: it must not cross the disk the
    # model saw a moment ago. Without the memory, the same planner goes straight through it.
    def clearance(result) -> float:
        return float(
            torch.linalg.vector_norm(
                result.best_h3[:, :2] - torch.tensor([1.0, 0.0]), dim=-1
            ).min()
        )

    assert clearance(plan_after_looking_away(memory_enabled=False)) < 0.3
    assert clearance(plan_after_looking_away(memory_enabled=True)) >= 0.3


def test_a_remembered_contact_the_model_now_sees_free_is_cleared_only_when_in_view():
    memory = ContactMemory(
        ContactMemoryConfig(view_half_angle_rad=0.6, clear_below=0.05, cell_m=0.05)
    )
    memory.remember(torch.tensor([[0.5, 0.0], [-0.5, 0.0]]))  # ahead and behind
    poses = torch.zeros(2, 20, 3)
    poses[0, :, 0] = torch.linspace(0.05, 1.0, 20)  # drives through the one ahead...
    poses[1, :, 0] = -torch.linspace(0.05, 1.0, 20)  # ...and reverses through the one behind
    free = torch.full((2, 20), 0.02)
    assert memory.clear_seen_free(poses, free, torch.tensor([0.0, 0.0, 0.0])) == 1
    assert memory.points_m2.tolist() == [[-0.5, 0.0]]  # behind the camera: kept
    # In view but the model predicts a contact before reaching it: kept.
    memory.remember(torch.tensor([[0.5, 0.0]]))
    blocked = free.clone()
    blocked[0, 5:] = 0.95
    assert memory.clear_seen_free(poses, blocked, torch.tensor([0.0, 0.0, 0.0])) == 0
    assert len(memory) == 2


def test_a_stall_is_felt_as_a_contact_ahead_that_the_models_view_does_not_clear():
    memory = ContactMemory(ContactMemoryConfig(stall_after_s=0.5, stall_distance_m=0.1))
    pose = torch.tensor([1.0, 2.0, math.pi / 2])
    # Accelerating (measured catching up with the command) or turning in place: no stall.
    for commanded, measured in [(0.4, 0.05), (0.4, 0.2), (0.4, 0.35), (0.0, 0.0), (0.05, 0.0)] * 3:
        assert not memory.observe_motion(commanded, measured, pose, 0.1)
    assert len(memory) == 0
    # Told to drive at 0.4 m/s, measured 0.02 m/s: felt after 0.5 s, a surface 10 cm beyond the
    # body.
    felt = [memory.observe_motion(0.4, 0.02, pose, 0.1) for _ in range(5)]
    assert felt == [False, False, False, False, True]
    assert memory.points_m2.tolist() == [
        pytest.approx([1.0, 2.25])
    ]  # 0.1 m beyond the 0.17 m body
    assert memory.felt_m.tolist() == [True]
    # The model says the way ahead (through the felt contact, in view) is free: it stays.
    poses = torch.zeros(1, 20, 3)
    poses[0, :, 0] = 1.0
    poses[0, :, 1] = torch.linspace(2.0, 2.5, 20)
    assert memory.clear_seen_free(poses, torch.zeros(1, 20), pose) == 0 and len(memory) == 1
    # Reversing into something unseen: felt behind.
    memory.clear()
    for _ in range(5):
        memory.observe_motion(-0.1, 0.0, pose, 0.1)
    assert memory.points_m2.tolist() == [pytest.approx([1.0, 1.75])]


def charge_by_distance_matrix(memory: ContactMemory, poses_bh3, start_xy_2) -> torch.Tensor:
    """The memory's charge as it was first written: every rollout point against every
    remembered surface (a [B*H, M] distance matrix), the reference for the grid lookup."""
    c = memory.config
    points = memory.points_m2
    outer_m, inner_m = c.body_radius_m + c.radius_m, c.body_radius_m + c.inner_m
    radius_m = torch.minimum(
        torch.full((points.shape[0],), outer_m),
        torch.linalg.vector_norm(points - start_xy_2, dim=-1),
    )
    keep = radius_m > 0.2 * c.cell_m
    points, radius_m = points[keep], radius_m[keep]
    inner = radius_m * (inner_m / outer_m)
    b, h = poses_bh3.shape[:2]
    distance = torch.cdist(poses_bh3[..., :2].reshape(b * h, 2).double(), points.double())
    ramp = ((radius_m - distance) / (radius_m - inner)).clamp(0.0, 1.0).amax(dim=1)
    return ramp.reshape(b, h).float()


@pytest.mark.parametrize("seed", range(12))
def test_the_grid_lookup_charges_as_the_distance_matrix_did(seed):
    """Random memories (1-256 surfaces, some beside the robot, whose reach is shortened) and
    random rollout points: the lookup never charges less than the distance matrix by more than
    the raster's curvature error, and more only where two surfaces' ramps meet, by at most half
    a raster cell of distance (core/planning/proximity_grid.py)."""
    g = torch.Generator().manual_seed(seed)
    config = ContactMemoryConfig(cell_m=(0.05, 0.02, 0.1)[seed % 3])
    memory = ContactMemory(config)
    count = int(torch.randint(1, 257, (1,), generator=g))
    memory.remember(torch.rand(count, 2, generator=g) * 3.0 - 1.5)
    start = torch.rand(2, generator=g) - 0.5
    poses = torch.zeros(128, 20, 3)
    poses[..., :2] = torch.rand(128, 20, 2, generator=g) * 3.6 - 1.8
    poses[:8, :, :2] = start + 0.3 * (torch.rand(8, 20, 2, generator=g) - 0.5)  # near the robot
    exact = charge_by_distance_matrix(memory, poses, start)
    looked_up = memory.collision_prob(poses, start_xy_2=start)
    ramp_slope_per_m = 1.0 / (config.radius_m - config.inner_m)
    raster_m = config.cell_m / 2
    nearest_ramp_m = config.body_radius_m + config.inner_m
    bend_m = raster_m**2 / (4.0 * nearest_ramp_m)  # bilinear reading of a curved distance
    assert float((exact - looked_up).max()) <= ramp_slope_per_m * bend_m + 0.002
    assert float((looked_up - exact).max()) <= ramp_slope_per_m * raster_m / 2 + 0.01
    assert float((looked_up - exact).abs().mean()) <= 0.01
    assert bool(((exact > 0) == (looked_up > 0)).float().mean() > 0.99)


def test_the_grid_lookup_passes_nan_positions_on_and_reads_far_positions_as_free():
    memory = ContactMemory()
    memory.remember(torch.tensor([[1.0, 0.0]]))
    poses = torch.zeros(1, 3, 3)
    poses[0, 0, 0] = float("nan")
    poses[0, 1, :2] = torch.tensor([1e6, -1e6])
    poses[0, 2, 0] = 1.0
    charge = memory.collision_prob(poses, start_xy_2=torch.tensor([0.0, 0.0]))[0]
    assert math.isnan(float(charge[0])) and float(charge[1]) == 0.0 and float(charge[2]) == 1.0


@pytest.mark.parametrize("seed", range(6))
def test_clearing_by_the_grid_forgets_what_the_distance_matrix_did(seed):
    """Which remembered surfaces a rollout passes (``clear_seen_free``) is decided on the
    raster, with the borderline cases measured: the same answer as the [M, K] matrix."""
    g = torch.Generator().manual_seed(seed)
    memory = ContactMemory(ContactMemoryConfig(cell_m=(0.05, 0.02)[seed % 2]))
    memory.remember(torch.rand(200, 2, generator=g) * 2.0 - 1.0)
    count = int(torch.randint(20, 150, (1,), generator=g))
    free_xy = torch.rand(count, 2, generator=g) * 2.4 - 1.2
    radius_m = max(memory.config.cell_m, memory.config.body_radius_m - memory.config.cell_m)
    exact = torch.cdist(memory.points_m2.double(), free_xy.double()).amin(dim=1) <= radius_m
    by_grid = memory._grid.any_within(memory._cells_m2, free_xy, radius_m)
    assert torch.equal(by_grid, exact) and 0 < int(exact.sum()) < len(memory)


def test_clearing_by_the_grid_at_the_edge_of_the_radius():
    """Positions whose raster node is within the radius but that are not themselves."""
    memory = ContactMemory(ContactMemoryConfig(cell_m=0.05))
    memory.remember(torch.tensor([[0.0, 0.0]]))
    cells = memory._cells_m2
    for x_m, passed in [(0.13, False), (0.121, False), (0.119, True), (0.0, True)]:
        free_xy = torch.tensor([[x_m, 0.0], [5.0, 5.0]])
        assert memory._grid.any_within(cells, free_xy, 0.12).tolist() == [passed]
