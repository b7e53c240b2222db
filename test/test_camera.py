"""Camera geometry (core/data/camera.py): a 4:3 or 16:9 frame reaches the encoder the same way
in training (the bag loader, the training windows) and at run time (the predictor, the torch
fast path, the ONNX backend): cropped or letterboxed, never squashed. The checkpoint records
the camera, and a different live camera gets one warning naming both."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from runtime_engines import runtime_engines

from world_model_ros.core.data.camera import CameraSpec, camera_mismatch, fit_image
from world_model_ros.core.data.dataset import load_episodes
from world_model_ros.core.data.windows import WindowSet
from world_model_ros.core.live.camera_check import CameraCheck
from world_model_ros.core.model.contract import Observation
from world_model_ros.core.model.latent_model import LatentDynamicsModel, LatentModelConfig
from world_model_ros.core.model.latent_predictor import LatentPredictor


def test_crop_keeps_the_centre_and_letterbox_the_whole_view():
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, 10:70] = 200  # the centre square (60 x 60) is bright, the sides dark
    cropped = fit_image(image, 30, "crop")
    assert cropped.shape == (30, 30, 3) and cropped.min() == 200  # no squash: no dark border
    boxed = fit_image(image, 40, "letterbox")
    assert boxed.shape == (40, 40, 3)
    assert (boxed[:5] == 0).all() and (boxed[-5:] == 0).all()  # bars above and below
    assert boxed[20, 20].min() == 200
    square = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert np.array_equal(fit_image(square, 64), square)
    out = np.empty((30, 30, 3), np.uint8)
    assert fit_image(image, 30, "crop", dst=out) is out and np.array_equal(out, cropped)
    with pytest.raises(ValueError, match="fit mode"):
        fit_image(image, 30, "squash")


def test_training_and_every_runtime_path_feed_the_encoder_the_same_pixels(tmp_path):
    from world_model_ros.cli.main import main

    bag = tmp_path / "bags"
    assert (
        main(
            [
                "record",
                "--robot",
                "small",
                "--output",
                str(bag),
                "--layouts",
                "3",
                "--episodes",
                "1",
                "--episode-seconds",
                "2",
                "--quiet",
            ]  # fmt: skip
        )
        == 0
    )
    raw, _ = load_episodes(bag, dt_s=0.1, image_size=None)  # 128 x 72 frames, as the node sees
    loaded, report = load_episodes(bag, dt_s=0.1, image_size=32)  # what training sees
    camera = next(iter(report.cameras.values()))
    assert (camera.width, camera.height, camera.encoding) == (128, 72, "bgra8")
    assert camera.source == "camera_info" and camera.fovy_deg == pytest.approx(56.0)
    config = LatentModelConfig(image_size=32, encoder_channels=(8, 8), latent_dim=8, hidden_dim=16)
    torch.manual_seed(0)
    model = LatentDynamicsModel(config)
    windows = WindowSet(loaded, 32, horizon=1)
    frame = raw[0].images_thw3[5]
    assert frame.shape == (72, 128, 3)
    assert np.array_equal(windows.images[5].numpy(), fit_image(frame, 32))
    trained = model.encode(windows.images[5:6], windows.twists[5:6])[0]
    observation = Observation(
        0.0, frame, raw[0].poses_t3[5].astype(np.float32), raw[0].twists_t2[5].astype(np.float32)
    )
    predictor = LatentPredictor(model, torch.device("cpu"))
    engines = runtime_engines(predictor)
    for name, engine in engines.items():
        live = engine.encode(observation).features
        assert torch.allclose(torch.as_tensor(live), trained, atol=1e-4), name


def test_a_different_live_camera_is_named_once():
    trained = CameraSpec.from_intrinsics(160, 120, 128.7, 128.7, encoding="bgr8")
    assert camera_mismatch(trained, CameraSpec(320, 240, encoding="rgb8")) is None  # just larger
    assert camera_mismatch(None, CameraSpec(64, 64)) is None  # an old checkpoint says nothing
    text = camera_mismatch(trained, CameraSpec(64, 64, encoding="rgb8"))
    assert "64x64" in text and "160x120" in text and "aspect ratio" in text
    wide = CameraSpec.from_intrinsics(160, 120, 80.0, 80.0)
    assert "field of view" in camera_mismatch(trained, wide)
    assert "colour" in camera_mismatch(trained, CameraSpec(160, 120, encoding="mono8"))
    check = CameraCheck()
    check.on_camera_info(160, 120, 80.0, 80.0)  # the live camera_info says: wider
    first = check.check("latent:large", trained, 160, 120, "bgr8")
    assert first is not None and "field of view" in first
    assert check.check("latent:large", trained, 160, 120, "bgr8") is None  # once per model
    assert check.check("latent:other", trained, 160, 120, "bgr8") is not None
