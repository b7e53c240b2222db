"""The latent world model's contract: shapes, batching, determinism, frames, devices (pure
core)."""

import math

import numpy as np
import pytest
import torch

from world_model_ros.core.geometry import compose_body_deltas, integrate_unicycle
from world_model_ros.core.model.contract import LatentState, Observation, WorldModel
from world_model_ros.core.model.latent_model import (
    LatentDynamicsModel,
    LatentModelConfig,
    kinematic_body_delta,
    prepare_image,
)
from world_model_ros.core.model.latent_predictor import LatentPredictor
from world_model_ros.core.model.rollout_engine import mish

SMALL = LatentModelConfig(
    image_size=32, encoder_channels=(8, 16), image_features=32, latent_dim=16, hidden_dim=32
)


def predictor(config: LatentModelConfig = SMALL, seed: int = 0) -> LatentPredictor:
    torch.manual_seed(seed)
    return LatentPredictor(LatentDynamicsModel(config), torch.device("cpu"), horizon=20)


def observation(
    seed: int = 0, size: tuple[int, int] = (48, 64), pose=(0.5, -1.0, 0.3)
) -> Observation:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
    return Observation(0.0, image, np.array(pose, np.float32), np.array([0.2, 0.1], np.float32))


def random_actions(batch: int, horizon: int = 20, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack(
        [
            torch.rand(batch, horizon, generator=g) * 0.5,
            (torch.rand(batch, horizon, generator=g) - 0.5) * 2.0,
        ],
        dim=-1,
    )


def test_implements_contract_with_shapes():
    model = predictor()
    assert isinstance(model, WorldModel)
    latent = model.encode(observation(size=(240, 320)))  # any camera size: resized inside
    assert latent.features.shape == (SMALL.latent_dim,)
    rollout = model.rollout(latent, random_actions(7))
    assert rollout.poses_bh3.shape == (7, 20, 3)
    assert rollout.twists_bh2.shape == (7, 20, 2)
    for name in ("position_var_bh", "yaw_var_bh", "collision_prob_bh"):
        assert getattr(rollout, name).shape == (7, 20)
    assert (rollout.position_var_bh > 0).all() and (rollout.yaw_var_bh > 0).all()
    assert (torch.diff(rollout.position_var_bh, dim=1) >= 0).all()  # uncertainty accumulates
    assert ((rollout.collision_prob_bh >= 0) & (rollout.collision_prob_bh <= 1)).all()


def test_row_of_a_batch_equals_a_single_rollout():
    model = predictor()
    latent = model.encode(observation())
    actions = random_actions(64)
    batch = model.rollout(latent, actions)
    for row in (0, 17, 63):
        single = model.rollout(latent, actions[row : row + 1])
        torch.testing.assert_close(
            batch.poses_bh3[row : row + 1], single.poses_bh3, atol=1e-5, rtol=1e-5
        )
        torch.testing.assert_close(
            batch.collision_prob_bh[row : row + 1], single.collision_prob_bh, atol=1e-6, rtol=1e-5
        )


def test_deterministic_with_a_seed():
    first = predictor(seed=3)
    second = predictor(seed=3)
    actions = random_actions(5)
    a = first.rollout(first.encode(observation()), actions)
    b = second.rollout(second.encode(observation()), actions)
    torch.testing.assert_close(a.poses_bh3, b.poses_bh3, atol=0, rtol=0)
    c = predictor(seed=4)
    assert not torch.equal(c.rollout(c.encode(observation()), actions).poses_bh3, a.poses_bh3)


def test_predictions_compose_in_any_frame():
    """The same observation seen from another odometry origin gives the same relative path."""
    model = predictor()
    actions = random_actions(3)
    here = model.rollout(model.encode(observation(pose=(0.0, 0.0, 0.0))), actions)
    there = model.rollout(model.encode(observation(pose=(3.0, -2.0, math.pi / 2))), actions)
    # Rotate "there" back by -90 degrees about its start and shift: must equal "here".
    xy = there.poses_bh3[..., :2] - torch.tensor([3.0, -2.0])
    back = torch.stack([xy[..., 1], -xy[..., 0]], dim=-1)
    torch.testing.assert_close(back, here.poses_bh3[..., :2], atol=1e-4, rtol=0)


def test_kinematic_prior_reproduces_unicycle_integration():
    actions = random_actions(4)
    deltas = kinematic_body_delta(actions, 0.1)
    start = torch.tensor([1.0, 2.0, 0.5])
    torch.testing.assert_close(
        compose_body_deltas(start, deltas),
        integrate_unicycle(start, actions, 0.1),
        atol=1e-5,
        rtol=0,
    )


def test_latent_per_row_and_bad_inputs():
    model = predictor()
    latent = model.encode(observation())
    rows = LatentState(latent.pose_3, latent.twist_2, latent.features.expand(4, -1))
    torch.testing.assert_close(
        model.rollout(rows, random_actions(4)).poses_bh3,
        model.rollout(latent, random_actions(4)).poses_bh3,
    )
    with pytest.raises(ValueError, match="shape"):
        model.rollout(latent, torch.zeros(4, 20, 3))
    with pytest.raises(ValueError, match="NaN"):
        model.rollout(latent, torch.full((1, 20, 2), float("nan")))
    with pytest.raises(ValueError, match="image"):
        model.encode(Observation(0.0, None, np.zeros(3), np.zeros(2)))
    with pytest.raises(ValueError, match="features"):
        model.rollout(LatentState(latent.pose_3, latent.twist_2, None), random_actions(1))


def test_no_camera_ablation_needs_no_image():
    model = predictor(LatentModelConfig(use_camera=False, latent_dim=16, hidden_dim=32))
    assert model.model.image_encoder is None
    latent = model.encode(Observation(0.0, None, np.zeros(3), np.array([0.3, 0.0])))
    assert model.rollout(latent, random_actions(2)).poses_bh3.shape == (2, 20, 3)


def test_prepare_image_resizes_and_rejects_bad_arrays():
    assert prepare_image(np.zeros((480, 640, 3), np.uint8), 64).shape == (64, 64, 3)
    with pytest.raises(ValueError, match="uint8 RGB"):
        prepare_image(np.zeros((10, 10), np.uint8), 64)


def test_longer_horizon_than_trained_is_allowed():
    model = predictor()
    assert model.rollout(model.encode(observation()), random_actions(2, horizon=30)).horizon == 30


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_agree():
    cpu = predictor()
    cuda = LatentPredictor(LatentDynamicsModel(SMALL), torch.device("cuda"))
    cuda.model.load_state_dict(cpu.model.state_dict())
    actions = random_actions(256)
    a = cpu.rollout(cpu.encode(observation()), actions)
    b = cuda.rollout(cuda.encode(observation()), actions)
    torch.testing.assert_close(b.poses_bh3.cpu(), a.poses_bh3, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(
        b.collision_prob_bh.cpu(), a.collision_prob_bh, atol=1e-3, rtol=1e-3
    )


def reference_of(fast: LatentPredictor) -> LatentPredictor:
    """The same network behind the reference rollout (``LatentDynamicsModel.imagine``)."""
    return LatentPredictor(fast.model, torch.device("cpu"), horizon=20, rollout_engine="torch")


@pytest.mark.parametrize("config", [SMALL, LatentModelConfig()], ids=["small", "default"])
@pytest.mark.parametrize("horizon", [20, 7])
def test_the_fast_rollout_computes_what_the_reference_does(config, horizon):
    """The planner's engine (core/model/rollout_engine.py: the arithmetic rearranged, in ONNX
    Runtime) against ``imagine``, for one latent shared by every row and one latent per row."""
    fast = predictor(config)
    reference = reference_of(fast)
    latent = fast.encode(observation())
    rows = LatentState(
        latent.pose_3,
        latent.twist_2,
        latent.features + 0.3 * torch.randn(300, latent.features.shape[0]),
    )
    actions = random_actions(300, horizon=horizon) * torch.tensor([1.2, 1.5]) - torch.tensor(
        [0.1, 0]
    )
    poses = LatentState(
        latent.pose_3 + torch.randn(300, 3), latent.twist_2, rows.features
    )  # a pose per row too (evaluation's windows)
    for start in (latent, rows, poses):
        a, b = fast.rollout(start, actions), reference.rollout(start, actions)
        torch.testing.assert_close(a.poses_bh3, b.poses_bh3, atol=2e-5, rtol=1e-5)
        torch.testing.assert_close(a.twists_bh2, b.twists_bh2, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(a.position_var_bh, b.position_var_bh, atol=1e-7, rtol=1e-4)
        torch.testing.assert_close(a.yaw_var_bh, b.yaw_var_bh, atol=1e-7, rtol=1e-4)
        torch.testing.assert_close(a.collision_prob_bh, b.collision_prob_bh, atol=2e-5, rtol=0)


def test_the_fast_rollout_follows_weights_loaded_after_it_was_built():
    fast, other = predictor(seed=0), predictor(seed=1)
    latent, actions = fast.encode(observation()), random_actions(8)
    before = fast.rollout(latent, actions).poses_bh3
    fast.model.load_state_dict(other.model.state_dict())
    after = fast.rollout(latent, actions).poses_bh3
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, reference_of(other).rollout(latent, actions).poses_bh3)
    with pytest.raises(ValueError, match="rollout_engine"):
        LatentPredictor(fast.model, torch.device("cpu"), rollout_engine="tensorrt")


def test_mish_through_the_sigmoid_is_mish():
    x = torch.cat([torch.linspace(-100.0, 100.0, 20001), torch.tensor([-1e30, 1e30, 0.0])])
    torch.testing.assert_close(mish(x), torch.nn.functional.mish(x), atol=2e-6, rtol=1e-6)
