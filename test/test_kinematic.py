"""The kinematic baseline and the SE(2) helpers (pure core, no ROS)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from world_model_ros.core.geometry import (
    body_deltas_from_poses,
    compose_body_deltas,
    integrate_unicycle,
    quaternion_to_yaw,
    wrap_angle,
    yaw_to_quaternion,
)
from world_model_ros.core.model.contract import Observation, WorldModel
from world_model_ros.core.model.kinematic import KinematicConfig, KinematicPredictor, hold_actions


def observation(pose=(0.0, 0.0, 0.0), twist=(0.0, 0.0)) -> Observation:
    return Observation(
        0.0, None, np.array(pose, dtype=np.float32), np.array(twist, dtype=np.float32)
    )


def test_implements_contract():
    assert isinstance(KinematicPredictor(), WorldModel)


def test_straight_line_from_rotated_pose():
    model = KinematicPredictor(KinematicConfig(dt_s=0.1, horizon=20))
    latent = model.encode(observation(pose=(1.0, 2.0, math.pi / 2)))
    rollout = model.rollout(latent, hold_actions(torch.tensor([0.5, 0.0]), 1, 20))
    final = rollout.poses_bh3[0, -1]
    assert final[0].item() == pytest.approx(1.0, abs=1e-5)
    assert final[1].item() == pytest.approx(2.0 + 0.5 * 2.0, abs=1e-5)
    assert final[2].item() == pytest.approx(math.pi / 2, abs=1e-6)


def test_turn_stays_on_circle_of_known_radius():
    v, w = 0.4, 0.8  # radius 0.5 m, centre at (0, 0.5) from the origin facing +x
    model = KinematicPredictor(KinematicConfig(dt_s=0.1, horizon=40))
    rollout = model.rollout(model.encode(observation()), hold_actions(torch.tensor([v, w]), 1, 40))
    xy = rollout.poses_bh3[0, :, :2].numpy()
    radius = np.hypot(xy[:, 0], xy[:, 1] - v / w)
    np.testing.assert_allclose(radius, v / w, atol=1e-5)
    expected_yaw = wrap_angle(torch.tensor(w * 0.1 * np.arange(1, 41), dtype=torch.float32))
    torch.testing.assert_close(rollout.poses_bh3[0, :, 2], expected_yaw, atol=1e-5, rtol=0)


def test_batch_rows_are_independent():
    model = KinematicPredictor()
    actions = torch.stack(
        [
            hold_actions(torch.tensor([0.3, 0.0]), 1, 20)[0],
            hold_actions(torch.tensor([0.0, 1.0]), 1, 20)[0],
        ]
    )
    rollout = model.rollout(model.encode(observation()), actions)
    single = model.rollout(model.encode(observation()), actions[1:])
    torch.testing.assert_close(rollout.poses_bh3[1], single.poses_bh3[0])
    assert rollout.position_var_bh.shape == (2, 20)
    assert torch.all(rollout.position_var_bh[:, 1:] > rollout.position_var_bh[:, :-1])


def test_rejects_bad_actions():
    model = KinematicPredictor()
    latent = model.encode(observation())
    with pytest.raises(ValueError, match=r"\[B, H, 2\]"):
        model.rollout(latent, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="NaN"):
        model.rollout(latent, torch.full((1, 5, 2), float("nan")))


@settings(max_examples=50, deadline=None)
@given(
    st.floats(-3.0, 3.0),
    st.floats(-3.0, 3.0),
    st.floats(-math.pi, math.pi),
    st.lists(st.tuples(st.floats(-1.0, 1.0), st.floats(-2.0, 2.0)), min_size=1, max_size=15),
)
def test_body_deltas_round_trip(x, y, yaw, actions):
    poses = integrate_unicycle(
        torch.tensor([x, y, yaw], dtype=torch.float64),
        torch.tensor([actions], dtype=torch.float64),
        0.1,
    )[0].numpy()
    track = np.vstack([[x, y, yaw], poses])
    deltas = body_deltas_from_poses(track)
    rebuilt = compose_body_deltas(
        torch.tensor([x, y, yaw], dtype=torch.float64),
        torch.tensor(deltas[None], dtype=torch.float64),
    )[0].numpy()
    np.testing.assert_allclose(rebuilt[:, :2], poses[:, :2], atol=1e-9)
    np.testing.assert_allclose(np.cos(rebuilt[:, 2] - poses[:, 2]), 1.0, atol=1e-9)


@given(st.floats(-10.0, 10.0))
def test_quaternion_yaw_round_trip(yaw):
    assert math.cos(quaternion_to_yaw(*yaw_to_quaternion(yaw)) - yaw) == pytest.approx(
        1.0, abs=1e-9
    )
