"""The occupancy head: its grid, its training on a frozen model, and its file in a checkpoint."""

import json
import math

import numpy as np
import pytest
import torch
from synthetic_episodes import make_episode

from world_model_ros.core.data.occupancy_labels import FREE, OCCUPIED, LabelGrid
from world_model_ros.core.model.checkpoint import (
    CONFIG_NAME,
    OCCUPANCY_NAME,
    CheckpointError,
    load_latent_model,
    save_checkpoint,
    save_occupancy_head,
)
from world_model_ros.core.model.contract import LatentState
from world_model_ros.core.model.latent_model import LatentDynamicsModel, LatentModelConfig
from world_model_ros.core.model.latent_predictor import LatentPredictor
from world_model_ros.core.model.occupancy_head import (
    OccupancyHead,
    OccupancyHeadConfig,
    cells_in_world,
    in_view_c,
)
from world_model_ros.core.training.occupancy import (
    OccupancyTrainConfig,
    encode_frames,
    evaluate_head,
    train_occupancy_head,
)
from world_model_ros.core.training.occupancy_derived import DerivedFrames, fit_derived_head

SMALL = LatentModelConfig(
    image_size=32, encoder_channels=(8, 16), image_features=32, latent_dim=16, hidden_dim=32
)


def test_grid_cells_are_centres_x_major_in_the_robot_frame():
    config = OccupancyHeadConfig(cell_m=0.5, x_min_m=-0.5, x_max_m=1.0, y_half_m=0.5)
    cells = config.cells_c2()
    assert cells.tolist() == [
        [-0.25, -0.25],
        [-0.25, 0.25],
        [0.25, -0.25],
        [0.25, 0.25],
        [0.75, -0.25],
        [0.75, 0.25],
    ]
    with pytest.raises(ValueError, match="occupancy grid"):
        OccupancyHeadConfig(cell_m=0.0)


def test_cells_are_placed_at_the_pose_rep103():
    cells = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # ahead, left
    world = cells_in_world(cells, torch.tensor([[2.0, 3.0, math.pi / 2]]))  # facing +y
    torch.testing.assert_close(world[0], torch.tensor([[2.0, 4.0], [1.0, 3.0]]))


def test_only_cells_in_front_of_the_camera_and_in_range_are_in_view():
    cells = torch.tensor([[1.0, 0.0], [-0.5, 0.0], [1.0, 1.0], [0.1, 0.0], [2.0, 0.0]])
    view = in_view_c(cells, camera_x_m=0.15, half_angle_rad=0.6, max_range_m=1.5)
    assert view.tolist() == [
        True,
        False,
        False,
        False,
        False,
    ]  # ahead; behind; 45 deg off; behind the lens; far


def test_head_learns_the_map_from_a_frozen_model():
    torch.manual_seed(0)
    predictor = LatentPredictor(LatentDynamicsModel(SMALL), torch.device("cpu"))
    episodes = [make_episode(seed, steps=120, layout_seed=seed) for seed in range(6)]
    frames = encode_frames(predictor, episodes, progress=False)
    assert len(frames) == sum(len(e) for e in episodes)
    head_config = OccupancyHeadConfig(
        latent_dim=16, hidden_dim=32, cell_m=0.25, x_max_m=1.0, y_half_m=0.5
    )
    cells = OccupancyHead(head_config).cells_c2
    targets = frames.targets(torch.arange(len(frames)), cells)
    assert 0.0 < float(targets.mean()) < 1.0  # some cells occupied, some free
    config = OccupancyTrainConfig(
        steps=150, batch_size=64, validate_every=50, validation_fraction=0.34
    )
    untrained = OccupancyHead(head_config)
    before = evaluate_head(untrained, frames, config)["loss"]
    head, report = train_occupancy_head(predictor, episodes, config, head_config, progress=False)
    assert report["best_step"] > 0 and report["validation_layouts"]
    assert evaluate_head(head, frames, config)["loss"] < 0.8 * before
    # The predictor hands the head's cells and logits to the planner.
    with_head = LatentPredictor(predictor.model, torch.device("cpu"), occupancy_head=head)
    latent = LatentState(torch.zeros(3), torch.zeros(2), torch.zeros(16))
    cells_out, logits = with_head.occupancy(latent)
    assert cells_out.shape == (cells.shape[0], 2) and logits.shape == (cells.shape[0],)
    assert predictor.occupancy(latent) is None


def test_a_head_trained_on_weighted_derived_labels_gives_their_own_frequency():
    """The occupied cells are weighted up in the loss; the costmap fuses the head's logits as
    evidence against its prior, so the weight's tilt must be taken back off: on labels the
    latent says nothing about (a quarter of them occupied), the head must say about a
    quarter, not the half the weighted loss would teach it."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    labels = np.where(rng.random((80, 80)) < 0.25, OCCUPIED, FREE).astype(np.int8)
    grid = LabelGrid(np.array([-2.0, -2.0]), 0.05, labels)
    frames = 400
    poses = torch.zeros(frames, 3)
    poses[:, :2] = torch.from_numpy(rng.uniform(-0.8, 0.8, (frames, 2))).float()
    poses[:, 2] = torch.from_numpy(rng.uniform(-math.pi, math.pi, frames)).float()
    data = DerivedFrames(torch.randn(frames, 16), poses, np.zeros(frames, np.int64), [grid])
    head = OccupancyHead(
        OccupancyHeadConfig(latent_dim=16, hidden_dim=32, cell_m=0.25, x_max_m=1.0, y_half_m=0.5)
    )
    config = OccupancyTrainConfig(steps=300, batch_size=64, validate_every=100)
    fit_derived_head(head, data, data, pos_weight=3.0, config=config, progress=False)
    index = torch.arange(frames)
    said = data.labels(index, head.cells_c2)
    with torch.no_grad():
        probability = torch.sigmoid(head(data.latents_nd))[said >= 0]
    truth = float((said[said >= 0] == OCCUPIED).float().mean())
    assert abs(truth - 0.25) < 0.03
    assert abs(float(probability.mean()) - truth) < 0.05  # uncorrected: 3 x 0.25 / 1.5 = 0.5


def test_training_needs_bags_with_a_map():
    predictor = LatentPredictor(LatentDynamicsModel(SMALL), torch.device("cpu"))
    episode = make_episode(0, steps=40)
    episode.arena = None
    with pytest.raises(ValueError, match="arena map"):
        train_occupancy_head(predictor, [episode], OccupancyTrainConfig(steps=2), progress=False)


@pytest.fixture
def checkpoint_with_head(tmp_path):
    torch.manual_seed(0)
    folder = save_checkpoint(tmp_path / "ckpt", LatentDynamicsModel(SMALL))
    head = OccupancyHead(
        OccupancyHeadConfig(latent_dim=16, hidden_dim=8, cell_m=0.5, x_max_m=1.0, y_half_m=0.5)
    )
    save_occupancy_head(folder, head, {"steps": 1})
    return folder, head


def test_head_round_trips_through_the_checkpoint(checkpoint_with_head):
    folder, head = checkpoint_with_head
    loaded = load_latent_model(folder, torch.device("cpu"))
    z = torch.randn(16)
    _, logits = loaded.occupancy(LatentState(torch.zeros(3), torch.zeros(2), z))
    torch.testing.assert_close(logits, head(z[None])[0].detach())
    config = json.loads((folder / CONFIG_NAME).read_text())
    assert (
        config["occupancy"]["training"] == {"steps": 1}
        and config["occupancy"]["model"]["cell_m"] == 0.5
    )


def test_a_damaged_or_missing_head_is_a_clear_error(checkpoint_with_head):
    folder, _ = checkpoint_with_head
    weights = folder / OCCUPANCY_NAME
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256 of the occupancy head") as error:
        load_latent_model(folder, torch.device("cpu"))
    assert error.value.problem == "corrupt" and error.value.path == weights
    weights.unlink()
    with pytest.raises(CheckpointError, match="occupancy.safetensors") as error:
        load_latent_model(folder, torch.device("cpu"))
    assert error.value.problem == "missing"


def test_a_head_for_another_latent_size_is_refused(checkpoint_with_head):
    folder, _ = checkpoint_with_head
    with pytest.raises(ValueError, match="latent_dim"):
        save_occupancy_head(folder, OccupancyHead(OccupancyHeadConfig(latent_dim=8)))
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["occupancy"]["model"]["latent_dim"] = 8
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="latent_dim 8") as error:
        load_latent_model(folder, torch.device("cpu"))
    assert error.value.problem == "mismatch"
