"""The planner's second, older view (core/planning/past_view.py): bookkeeping, the learned model's
``advance``, and a planner that keeps clear of an obstacle its current frame no longer shows."""

import math

import numpy as np
import pytest
import torch
from test_mppi import DiskObstacleModel

from world_model_ros.core.model.contract import LatentState, Observation
from world_model_ros.core.model.latent_model import LatentDynamicsModel, LatentModelConfig
from world_model_ros.core.model.latent_predictor import LatentPredictor
from world_model_ros.core.planning.contact_memory import ContactMemoryConfig
from world_model_ros.core.planning.mppi import MppiConfig, MppiPlanner
from world_model_ros.core.planning.past_view import PastViewConfig, PastViews

DT = 0.1


class RecordingModel:
    """Carries a latent forward by adding up the commands: what it was given is checkable."""

    def __init__(self):
        self.calls = []

    def advance(self, latent, actions_k2):
        self.calls.append(actions_k2.clone())
        return latent.features + actions_k2.sum(dim=0)


def latent_at(value: float, pose=(0.0, 0.0, 0.0)) -> LatentState:
    return LatentState(
        pose_3=torch.tensor(pose), twist_2=torch.zeros(2), features=torch.tensor([value, value])
    )


def test_the_view_is_the_frame_of_delay_ago_carried_forward_under_the_commands_in_force():
    views, model = PastViews(PastViewConfig(delay_s=0.3), DT, horizon=20), RecordingModel()
    commands = [torch.tensor([0.1 * k, -0.1 * k]) for k in range(6)]
    views.record(latent_at(0.0), commands[0], steps_since_last=0)
    assert views.view(model, latent_at(0.0)) is None  # nothing 0.3 s old yet
    for k in range(1, 6):
        views.record(latent_at(float(k)), commands[k], steps_since_last=1)
    now = latent_at(5.0, pose=(1.0, 2.0, 0.5))
    view = views.view(model, now)
    # Frame 2 (three steps ago) under the commands in force before frames 3, 4 and 5.
    assert torch.equal(model.calls[-1], torch.stack(commands[3:6]))
    assert torch.allclose(
        view.features, torch.tensor([2.0, 2.0]) + torch.stack(commands[3:6]).sum(dim=0)
    )
    assert torch.equal(view.pose_3, now.pose_3)  # anchored where the robot is measured now


def test_no_view_after_a_reset_a_gap_or_without_a_model_that_carries_latents():
    views, model = PastViews(PastViewConfig(delay_s=0.2), DT, horizon=20), RecordingModel()
    for k in range(3):
        views.record(latent_at(float(k)), torch.zeros(2), steps_since_last=1)
    assert views.view(model, latent_at(2.0)) is not None
    assert (
        views.view(object(), latent_at(2.0)) is None
    )  # the kinematic model sees nothing to carry
    views.record(latent_at(3.0), torch.zeros(2), steps_since_last=4)  # cycles were skipped
    assert views.view(model, latent_at(3.0)) is None
    views.clear()
    views.record(latent_at(4.0), torch.zeros(2), steps_since_last=1)
    assert views.view(model, latent_at(4.0)) is None
    assert not PastViews(PastViewConfig(delay_s=0.0), DT, horizon=20).enabled


def test_a_delay_the_horizon_cannot_reach_is_refused():
    with pytest.raises(ValueError, match="shorter than the horizon"):
        PastViews(PastViewConfig(delay_s=2.0), DT, horizon=20)
    with pytest.raises(ValueError, match="delay_s"):
        PastViewConfig(delay_s=-1.0)


def test_learned_model_advance_continues_the_same_open_loop_rollout():
    torch.manual_seed(0)
    config = LatentModelConfig(
        image_size=32, encoder_channels=(8, 16), image_features=32, latent_dim=16, hidden_dim=32
    )
    predictor = LatentPredictor(LatentDynamicsModel(config), torch.device("cpu"), horizon=20)
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    latent = predictor.encode(
        Observation(0.0, image, np.zeros(3, np.float32), np.array([0.2, 0.1], np.float32))
    )
    before, after = torch.randn(5, 2) * 0.3, torch.randn(4, 15, 2) * 0.3
    whole = predictor.rollout(latent, torch.cat([before.expand(4, 5, 2), after], dim=1))
    carried = LatentState(latent.pose_3, latent.twist_2, predictor.advance(latent, before))
    continued = predictor.rollout(carried, after)
    assert torch.allclose(continued.collision_prob_bh, whole.collision_prob_bh[:, 5:], atol=1e-5)
    assert torch.allclose(continued.twists_bh2, whole.twists_bh2[:, 5:], atol=1e-5)


class ForwardCameraDiskModel(DiskObstacleModel):
    """Knows its round obstacle only from a frame that showed it (within +-35 degrees of the
    heading); the latent is that one bit, and ``advance`` carries it forward unchanged."""

    def __init__(self):
        super().__init__(centre_xy=(0.8, 0.0), radius_m=0.3)

    def encode(self, observation):
        latent = super().encode(observation)
        pose = latent.pose_3
        bearing = torch.atan2(*(self.centre - pose[:2]).flip(0))
        in_view = abs(math.remainder(float(bearing - pose[2]), 2 * math.pi)) < math.radians(35)
        return LatentState(latent.pose_3, latent.twist_2, torch.tensor([float(in_view)]))

    def advance(self, latent, actions_k2):
        return latent.features.clone()

    def rollout(self, latent, actions_bh2):
        rollout = super().rollout(latent, actions_bh2)
        rollout.collision_prob_bh = rollout.collision_prob_bh * latent.features[0]
        return rollout


class ForwardCameraDiskModelWithHead(ForwardCameraDiskModel):
    """The same, with an occupancy head that (wrongly) calls everything free."""

    def occupancy(self, latent):
        cells = torch.tensor([[1.0, 0.0]])
        return cells, torch.tensor([-6.0])


def plan_after_turning_away(delay_s: float, model_type=ForwardCameraDiskModel):
    """Look at the obstacle for a second, then plan facing 45 degrees away from it (no memory)."""
    model = model_type()
    config = MppiConfig(
        seed=4,
        memory=ContactMemoryConfig(enabled=False),
        past_view=PastViewConfig(delay_s=delay_s),
    )
    planner = MppiPlanner(model, config)
    goal = np.array([2.0, 0.0, 0.0])

    def observe(yaw: float) -> LatentState:
        return model.encode(
            Observation(
                0.0,
                None,
                np.array([0.0, 0.0, yaw], dtype=np.float32),
                np.zeros(2, dtype=np.float32),
            )
        )

    for step in range(10):
        if step:
            planner.shift(1)
        planner.plan(observe(0.0), goal, np.zeros(2))
    result = None
    for _ in range(3):  # turned away: this frame shows free space where the disk is
        planner.shift(1)
        result = planner.plan(observe(math.pi / 4), goal, np.zeros(2))
    return result


def test_the_past_view_keeps_the_plan_off_an_obstacle_the_current_frame_no_longer_shows():
    # Over the 15 steps a half-second-old view reaches (horizon 20 minus its 5 steps of delay).
    def clearance(result) -> float:
        return float(
            torch.linalg.vector_norm(
                result.best_h3[:15, :2] - torch.tensor([0.8, 0.0]), dim=-1
            ).min()
        )

    assert clearance(plan_after_turning_away(delay_s=0.0)) < 0.3
    assert clearance(plan_after_turning_away(delay_s=0.5)) >= 0.3


def test_with_an_occupancy_map_the_past_view_is_not_asked():
    """The map remembers what left the picture; the past view is for models without a head."""
    result = plan_after_turning_away(delay_s=0.5, model_type=ForwardCameraDiskModelWithHead)
    assert (
        float(
            torch.linalg.vector_norm(
                result.best_h3[:15, :2] - torch.tensor([0.8, 0.0]), dim=-1
            ).min()
        )
        < 0.3
    )
