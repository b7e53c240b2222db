"""Training: windows, split, losses going down, determinism, resume, and train/eval end to end on
tiny bags."""

import dataclasses
import json
import os
import time

import numpy as np
import pytest
import torch
from synthetic_episodes import make_episode

from world_model_ros.cli.main import main
from world_model_ros.core.data.windows import WindowSet, split_by_episode
from world_model_ros.core.geometry import compose_body_deltas
from world_model_ros.core.model.checkpoint import load_checkpoint, load_latent_model
from world_model_ros.core.model.latent_model import LatentModelConfig
from world_model_ros.core.training.losses import compute_losses
from world_model_ros.core.training.pace import Pace
from world_model_ros.core.training.train_config import TrainConfig
from world_model_ros.core.training.trainer import TRAIN_STATE_NAME, train

SMALL = LatentModelConfig(
    image_size=32, encoder_channels=(8, 16), image_features=32, latent_dim=16, hidden_dim=32
)
CONFIG = TrainConfig(
    model=SMALL,
    steps=40,
    batch_size=16,
    warmup_steps=5,
    validate_every=20,
    learning_rate=3e-3,
    augment_shift_px=1,
    num_threads=1,
)


@pytest.fixture(scope="module")
def episodes():
    return [make_episode(seed, steps=60) for seed in range(4)]


def test_windows_hold_consistent_targets(episodes):
    windows = WindowSet(episodes, 32, 20, stride=3)
    assert len(windows) == 4 * len(range(0, 60 - 20, 3))
    batch = windows.gather(torch.arange(len(windows)), consistency_steps=(5, 20))
    # The per-step deltas compose back into the relative poses; both match the episode.
    torch.testing.assert_close(
        compose_body_deltas(torch.zeros(3), batch.deltas_bh3),
        batch.rel_poses_bh3,
        atol=1e-4,
        rtol=0,
    )
    last = len(windows) - 1
    episode, start = int(batch.episode_b[last]), int(batch.start_b[last])
    np.testing.assert_allclose(
        batch.poses_bh3[last].numpy(),
        episodes[episode].poses_t3[start + 1 : start + 21],
        atol=1e-5,
    )
    np.testing.assert_array_equal(
        batch.future_images_bkss3[last, 1].numpy(), episodes[episode].images_thw3[start + 20]
    )
    np.testing.assert_allclose(
        batch.actions_bh2[last].numpy(), episodes[episode].commands_t2[start : start + 20]
    )


def test_split_keeps_each_layout_on_one_side():
    eps = [make_episode(seed, steps=25, layout_seed=seed % 3) for seed in range(9)]
    train_eps, val_eps = split_by_episode(eps, 0.34, seed=0)
    assert len(train_eps) + len(val_eps) == 9 and val_eps
    assert not {e.arena.layout_seed for e in train_eps} & {e.arena.layout_seed for e in val_eps}
    assert [e.source for e in split_by_episode(eps, 0.34, seed=0)[1]] == [
        e.source for e in val_eps
    ]


def test_a_few_steps_lower_the_loss(episodes, tmp_path):
    windows = WindowSet(episodes, 32, 20)
    fixed = windows.gather(torch.arange(0, len(windows), 7), CONFIG.consistency_steps)
    torch.manual_seed(CONFIG.seed)
    from world_model_ros.core.model.latent_model import LatentDynamicsModel
    from world_model_ros.core.training.trainer import compute_normalisation

    before_model = LatentDynamicsModel(SMALL, compute_normalisation(windows, SMALL))
    before = compute_losses(before_model, fixed, CONFIG)[1]
    result = train(windows, None, CONFIG, tmp_path, torch.device("cpu"), progress=False)
    after = compute_losses(load_checkpoint(tmp_path)[0], fixed, CONFIG)[1]
    assert result.steps == 40
    assert after["loss"] < 0.7 * before["loss"]
    assert after["ade_m"] < before["ade_m"] and after["collision"] < before["collision"]


def test_training_is_deterministic_and_resumes_exactly(episodes, tmp_path):
    windows = WindowSet(episodes[:3], 32, 20)
    val = WindowSet(episodes[3:], 32, 20)
    short = dataclasses.replace(CONFIG, steps=12, validate_every=6)
    train(windows, val, short, tmp_path / "a", torch.device("cpu"), progress=False)
    train(windows, val, short, tmp_path / "b", torch.device("cpu"), progress=False)
    state_a = torch.load(tmp_path / "a" / TRAIN_STATE_NAME, weights_only=True)["model"]
    state_b = torch.load(tmp_path / "b" / TRAIN_STATE_NAME, weights_only=True)["model"]
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)

    # Interrupt after 7 steps (Ctrl-C), then resume to 12: same weights as the straight run.
    def interrupt(step, parts):
        if step == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            windows,
            val,
            short,
            tmp_path / "c",
            torch.device("cpu"),
            progress=False,
            on_step=interrupt,
        )
    assert torch.load(tmp_path / "c" / TRAIN_STATE_NAME, weights_only=True)["step"] == 7
    train(windows, val, short, tmp_path / "c", torch.device("cpu"), resume=True, progress=False)
    state_c = torch.load(tmp_path / "c" / TRAIN_STATE_NAME, weights_only=True)["model"]
    assert all(torch.equal(state_a[k], state_c[k]) for k in state_a)
    with pytest.raises(ValueError, match="different training config"):
        train(
            windows,
            val,
            dataclasses.replace(short, learning_rate=1e-2),
            tmp_path / "c",
            torch.device("cpu"),
            resume=True,
            progress=False,
        )


def test_a_weight_average_is_what_is_kept_and_resumes_exactly(episodes, tmp_path):
    windows = WindowSet(episodes, 32, 20)
    cpu = torch.device("cpu")
    plain = dataclasses.replace(CONFIG, steps=12, validate_every=6)
    averaged = dataclasses.replace(plain, ema_decay=0.9)
    train(windows, None, plain, tmp_path / "plain", cpu, progress=False)
    train(windows, None, averaged, tmp_path / "avg", cpu, progress=False)

    def raw(folder):
        return torch.load(tmp_path / folder / TRAIN_STATE_NAME, weights_only=True)

    def kept(folder):
        return load_checkpoint(tmp_path / folder)[0].state_dict()

    # Averaging does not touch the steps: the last weights are those of the plain run.
    last = raw("avg")["model"]
    assert all(torch.equal(last[k], raw("plain")["model"][k]) for k in last)
    # Without an average the checkpoint is the last step's weights; with one, the average's.
    assert all(torch.equal(kept("plain")[k], last[k]) for k in last)
    average = raw("avg")["average"]
    assert all(torch.equal(kept("avg")[k], average[f"module.{k}"]) for k in last)
    assert not all(torch.equal(kept("avg")[k], last[k]) for k in last)

    # Interrupted after 7 steps and resumed to 12: the same average as the straight run.
    def interrupt(step, parts):
        if step == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(windows, None, averaged, tmp_path / "c", cpu, progress=False, on_step=interrupt)
    train(windows, None, averaged, tmp_path / "c", cpu, resume=True, progress=False)
    assert all(torch.equal(kept("c")[k], kept("avg")[k]) for k in last)
    with pytest.raises(ValueError, match="ema_decay must be in"):
        dataclasses.replace(plain, ema_decay=1.0)


def test_pace_follows_steps_when_they_fit_the_budget_and_the_clock_when_not():
    roomy = Pace(steps=1000, budget_s=600.0)  # decides at step 40
    assert roomy.progress(10, 300.0) == pytest.approx(0.01)  # undecided: the steps alone
    assert roomy.clock_bound is None
    assert roomy.progress(40, 12.0) == pytest.approx(0.04)  # 300 s projected: fits
    assert roomy.clock_bound is False and "by steps" in roomy.describe(40, 12.0)
    assert roomy.progress(41, 400.0) == pytest.approx(0.041)  # a slow stretch changes nothing
    tight = Pace(steps=1000, budget_s=600.0)
    assert tight.progress(40, 30.0) == pytest.approx(0.05)  # 750 s projected: the clock binds
    assert tight.clock_bound is True and "by the clock" in tight.describe(40, 30.0)
    assert tight.progress(500, 450.0) == pytest.approx(0.75)
    assert Pace(steps=1000, budget_s=0.0).progress(500, 1e6) == pytest.approx(0.5)


def test_a_budgeted_run_that_fits_is_reproducible_through_a_slow_stretch(episodes, tmp_path):
    """Two runs under a time budget, one stalled for 8 s early on, end with the same weights
    (the schedule read the clock at every step before core/training/pace.py, and these two
    differed)."""
    windows = WindowSet(episodes[:3], 32, 20)
    budgeted = dataclasses.replace(CONFIG, steps=12, validate_every=6, max_minutes=0.5)

    def stall(step, parts):
        if step == 2:
            time.sleep(8.0)

    logged: list[str] = []
    train(windows, None, budgeted, tmp_path / "a", torch.device("cpu"), progress=False)
    result = train(
        windows,
        None,
        budgeted,
        tmp_path / "b",
        torch.device("cpu"),
        progress=False,
        on_step=stall,
        log=logged.append,
    )
    assert result.steps == 12 and any("schedule: by steps" in line for line in logged)
    state_a = torch.load(tmp_path / "a" / TRAIN_STATE_NAME, weights_only=True)["model"]
    state_b = torch.load(tmp_path / "b" / TRAIN_STATE_NAME, weights_only=True)["model"]
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def test_config_file_loads_and_rejects_unknown_keys(tmp_path):
    config = TrainConfig.from_yaml(
        os.path.join(os.path.dirname(__file__), "..", "config", "train.yaml")
    )
    assert config.model.horizon == 20 and config.model.use_camera
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: 10\nlearning_rat: 0.1\n")
    with pytest.raises(ValueError, match="unknown setting 'learning_rat'"):
        TrainConfig.from_yaml(bad)
    bad.write_text("model:\n  horizon: 5\nconsistency_steps: [10]\n")
    with pytest.raises(ValueError, match="consistency_steps"):
        TrainConfig.from_yaml(bad)


@pytest.fixture(scope="module")
def tiny_bags(tmp_path_factory):
    """Two tiny simulator bags: one training layout, one held-out layout."""
    root = tmp_path_factory.mktemp("bags")
    for name, layout in (("train", "3"), ("test", "1003")):
        assert (
            main(
                [
                    "record",
                    "--output",
                    str(root / name),
                    "--layouts",
                    layout,
                    "--episodes",
                    "1",
                    "--episode-seconds",
                    "6",
                    "--quiet",
                ]
            )
            == 0
        )
    return root


def test_train_and_eval_verbs_end_to_end(tiny_bags, tmp_path, capsys):
    """A tiny bag through `train` (camera and no-camera) and `eval`: files, figures, errors."""
    out, ablation, report = tmp_path / "model", tmp_path / "ablation", tmp_path / "report"
    common = ["--steps", "3", "--batch-size", "4", "--threads", "1", "--device", "cpu", "--quiet"]
    assert main(["train", str(tiny_bags / "train"), "--out", str(out), *common]) == 0
    assert (
        main(["train", str(tiny_bags / "train"), "--out", str(ablation), "--no-camera", *common])
        == 0
    )
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["data"]["layout_seeds"] == "3"
    assert config["training_total"]["steps"] == 3 and config["model"]["use_camera"]
    assert load_latent_model(out, torch.device("cpu")).uses_camera
    assert not load_latent_model(ablation, torch.device("cpu")).uses_camera

    # The occupancy head on the frozen model, added to the same folder.
    assert (
        main(
            [
                "train",
                str(tiny_bags / "train"),
                "--occupancy-head",
                str(out),
                "--steps",
                "5",
                "--batch-size",
                "8",
                "--threads",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert "occupancy head in" in capsys.readouterr().out
    assert load_latent_model(out, torch.device("cpu")).occupancy_head is not None

    assert (
        main(
            [
                "eval",
                str(tiny_bags / "test"),
                "--checkpoint",
                str(out),
                "--ablation",
                str(ablation),
                "--out",
                str(report),
                "--record",
            ]
        )
        == 0
    )
    result = json.loads((report / "eval_report.json").read_text())
    assert {"constant velocity", "kinematic", "latent (no camera)", "latent (camera)"} <= set(
        result["subsets"]["all"]
    )
    assert (report / "error_vs_horizon.png").is_file() and (
        report / "example_rollouts.png"
    ).is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["evaluation"]["layouts"] == "1003"
    assert (
        config["occupancy"]["evaluation"]["layouts"] == "1003"
        and config["occupancy"]["evaluation"]["frames"] == 60
    )
    assert "occupancy head, cells in view" in capsys.readouterr().out
    # Training layouts are refused; a broken checkpoint is a clear error; so is a missing bag.
    assert (
        main(
            [
                "eval",
                str(tiny_bags / "train"),
                "--checkpoint",
                str(out),
                "--ablation",
                "none",
                "--out",
                str(report),
            ]
        )
        == 2
    )
    assert "trained on layout seed(s) 3" in capsys.readouterr().err
    (out / "model.safetensors").write_bytes(b"garbage")
    assert (
        main(["eval", str(tiny_bags / "test"), "--checkpoint", str(out), "--ablation", "none"])
        == 2
    )
    assert "model.safetensors" in capsys.readouterr().err
    assert (
        main(["train", str(tmp_path / "no-such-bag"), "--out", str(tmp_path / "x"), *common]) == 2
    )
    assert "no such bag" in capsys.readouterr().err


def test_twist_jitter_is_seeded_small_and_off_by_default():
    from world_model_ros.core.training.sampling import jitter_twists

    twists = torch.zeros(4096, 2)
    assert jitter_twists(twists, 0.0, 0.0, torch.Generator().manual_seed(0)) is twists
    a = jitter_twists(twists, 0.02, 0.05, torch.Generator().manual_seed(0))
    b = jitter_twists(twists, 0.02, 0.05, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)
    assert a.std(0).tolist() == pytest.approx([0.02, 0.05], rel=0.1)
    assert (
        TrainConfig().twist_noise_v_mps == 0.0
        and TrainConfig.from_yaml("config/train.yaml").twist_noise_v_mps > 0
    )


def test_rest_start_windows_are_weighted_only_in_free_space(episodes):
    from world_model_ros.core.training.sampling import window_sampling_weights

    windows = WindowSet(episodes, 16, 5)
    assert window_sampling_weights(windows, 1.0) is None
    g0 = windows.starts
    windows.twists[g0, 0] = 0.3  # all rolling ...
    windows.twists[g0[:3], 0] = (
        0.0  # ... but three at rest under a forward command, one of them pinned
    )
    windows.commands[g0[:3], 0] = 0.4
    windows.contacts[g0[:3]] = 0.0
    windows.contacts[g0[2]] = 1.0
    weights = window_sampling_weights(windows, 4.0)
    assert weights.shape == (len(windows),)
    assert weights[:2].tolist() == [4.0, 4.0] and weights[2:].eq(1.0).all()
    with pytest.raises(ValueError, match="rest_start_weight"):
        window_sampling_weights(windows, 0.0)
