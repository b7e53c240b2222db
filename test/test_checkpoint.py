"""Checkpoint round trip and every way a checkpoint can be wrong (each a clear CheckpointError)."""

import json

import numpy as np
import pytest
import torch

from world_model_ros.core.model.checkpoint import (
    CONFIG_NAME,
    DEFAULT_CHECKPOINT,
    WEIGHTS_NAME,
    CheckpointError,
    load_checkpoint,
    load_latent_model,
    save_checkpoint,
    update_config,
)
from world_model_ros.core.model.contract import Observation, WorldModel
from world_model_ros.core.model.latent_model import (
    LatentDynamicsModel,
    LatentModelConfig,
    Normalisation,
)
from world_model_ros.core.model.registry import ModelSpec, load_world_model

SMALL = LatentModelConfig(
    image_size=32, encoder_channels=(8, 16), image_features=32, latent_dim=16, hidden_dim=32
)


def observation() -> Observation:
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    return Observation(0.0, image, np.array([1.0, 2.0, 0.3]), np.array([0.2, 0.1]))


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    norm = Normalisation(
        twist_mean=[0.1, 0.0], twist_std=[0.2, 0.5], delta_std=[0.01, 0.005, 0.02]
    )
    model = LatentDynamicsModel(SMALL, norm)
    return save_checkpoint(
        tmp_path / "ckpt", model, training={"data": {"layout_seeds": "0-3"}}
    ), model


def test_round_trip_gives_the_same_predictions(checkpoint):
    folder, model = checkpoint
    loaded = load_latent_model(folder, torch.device("cpu"), horizon=15)
    assert isinstance(loaded, WorldModel) and loaded.horizon == 15 and loaded.dt_s == SMALL.dt_s
    assert loaded.model.normalisation() == model.normalisation()
    original = load_latent_model(folder, torch.device("cpu"))
    original.model.load_state_dict(model.state_dict())
    actions = torch.rand(8, 15, 2)
    a = loaded.rollout(loaded.encode(observation()), actions)
    b = original.rollout(original.encode(observation()), actions)
    torch.testing.assert_close(a.poses_bh3, b.poses_bh3, atol=0, rtol=0)
    config = json.loads((folder / CONFIG_NAME).read_text())
    assert (
        config["model"]["latent_dim"] == 16 and config["training"]["data"]["layout_seeds"] == "0-3"
    )
    # Evaluation figures are added later without invalidating the checkpoint.
    update_config(folder, evaluation={"ade": 0.1})
    assert load_checkpoint(folder)[1]["evaluation"] == {"ade": 0.1}
    with pytest.raises(ValueError, match="may not change"):
        update_config(folder, model={})


def test_registry_loads_latent_by_name(checkpoint):
    folder, _ = checkpoint
    model = load_world_model(ModelSpec(kind="latent", checkpoint=str(folder), device="cpu"))
    assert model.model_id == "latent:ckpt"
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        load_world_model(ModelSpec(kind="latent", checkpoint=str(folder) + "-nope", device="cpu"))


def expect(path, problem: str, match: str, name: str | None = None, **options):
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path, **options)
    assert info.value.problem == problem
    if name is not None:
        assert info.value.path.name == name and name in str(info.value)
    return info.value


def test_missing_folder_and_files(checkpoint, tmp_path):
    folder, _ = checkpoint
    expect(tmp_path / "nowhere", "missing", "no such checkpoint folder", "nowhere")
    (folder / WEIGHTS_NAME).rename(tmp_path / "weights.bak")
    expect(folder, "missing", "model.safetensors not found", WEIGHTS_NAME)
    (folder / CONFIG_NAME).unlink()
    expect(folder, "missing", "config.json not found", CONFIG_NAME)


def test_corrupt_weights_and_config(checkpoint):
    folder, _ = checkpoint
    weights = folder / WEIGHTS_NAME
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF  # one flipped byte inside the tensor data
    weights.write_bytes(bytes(data))
    expect(folder, "corrupt", "SHA-256", WEIGHTS_NAME)
    weights.write_bytes(b"not a safetensors file at all")
    config = json.loads((folder / CONFIG_NAME).read_text())
    config.pop("weights_sha256")  # without the hash the weights cannot be checked: refused...
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    expect(folder, "unverified", "no weights_sha256.*allow_unverified_weights", CONFIG_NAME)
    # ...unless allowed, and then safetensors itself must notice
    expect(folder, "corrupt", "cannot read safetensors", WEIGHTS_NAME, allow_unverified=True)
    (folder / CONFIG_NAME).write_text("{ not json")
    expect(folder, "corrupt", "cannot parse config.json", CONFIG_NAME)


def edit_config(folder, change) -> None:
    config = json.loads((folder / CONFIG_NAME).read_text())
    change(config)
    (folder / CONFIG_NAME).write_text(json.dumps(config))


def test_mismatched_architecture_names_the_tensor(checkpoint):
    folder, _ = checkpoint
    edit_config(folder, lambda c: c["model"].update(latent_dim=24))
    error = expect(folder, "mismatch", "shape", WEIGHTS_NAME)
    assert "needs" in str(error)


def test_weights_of_another_architecture(checkpoint, tmp_path):
    folder, _ = checkpoint
    other = save_checkpoint(
        tmp_path / "other",
        LatentDynamicsModel(LatentModelConfig(use_camera=False, latent_dim=16, hidden_dim=32)),
    )
    (other / WEIGHTS_NAME).replace(folder / WEIGHTS_NAME)
    edit_config(folder, lambda c: c.pop("weights_sha256"))
    expect(folder, "mismatch", "missing image_encoder", WEIGHTS_NAME, allow_unverified=True)


def test_format_version_and_bad_config_values(checkpoint):
    folder, _ = checkpoint
    edit_config(folder, lambda c: c.update(format_version=2))
    expect(folder, "format", "newer world_model_ros", CONFIG_NAME)
    edit_config(folder, lambda c: c.update(format_version=1, format="something-else"))
    expect(folder, "format", "format is 'something-else'", CONFIG_NAME)
    edit_config(folder, lambda c: c.update(format="world_model_ros/latent-world-model"))
    edit_config(folder, lambda c: c["model"].update(colour="blue"))
    expect(folder, "mismatch", "unknown model config keys: colour", CONFIG_NAME)
    edit_config(folder, lambda c: (c["model"].pop("colour"), c["model"].update(dt_s=-1.0)))
    expect(folder, "mismatch", "dt_s=-1.0", CONFIG_NAME)


def test_normalisation_in_config_must_match_the_weights(checkpoint):
    folder, _ = checkpoint
    edit_config(folder, lambda c: c["normalisation"].update(twist_std=[9.0, 9.0]))
    expect(folder, "mismatch", "normalisation 'twist_std'", CONFIG_NAME)


@pytest.mark.skipif(
    not (DEFAULT_CHECKPOINT / CONFIG_NAME).is_file(), reason="no shipped checkpoint yet"
)
def test_shipped_checkpoint_loads_and_predicts():
    model = load_latent_model(None, torch.device("cpu"))
    assert model.model_id == "latent:default" and model.uses_camera
    image = np.zeros((64, 64, 3), np.uint8)
    rollout = model.rollout(
        model.encode(Observation(0.0, image, np.zeros(3), np.zeros(2))), torch.zeros(4, 20, 2)
    )
    assert torch.isfinite(rollout.poses_bh3).all()
    assert model.model.config.use_camera


def test_replaced_weights_without_a_checksum_need_an_explicit_allowance(checkpoint, tmp_path):
    """Weights swapped for other (valid) ones with weights_sha256 removed: refused by default;
    loaded when allowed, and the predictor then reports the SHA-256 of what it really holds."""
    folder, _ = checkpoint
    config = json.loads((folder / CONFIG_NAME).read_text())
    original = config.pop("weights_sha256")
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="no weights_sha256"):
        load_world_model(ModelSpec(kind="latent", checkpoint=str(folder), device="cpu"))
    model = load_world_model(
        ModelSpec(kind="latent", checkpoint=str(folder), device="cpu", allow_unverified=True)
    )
    assert model.weights_sha256 == original  # hashed on load when config.json does not say
