"""The encoder's history input (the steps before a frame: what the robot was told, what it did):
the same numbers in training and in every runtime path, and a model that gains it starts where
the one without it was."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from synthetic_episodes import make_episode

from world_model_ros.core.data.windows import WindowSet
from world_model_ros.core.live.domain import CommandLog
from world_model_ros.core.live.motion_history import motion_history
from world_model_ros.core.live.sync import OdomBuffer, OdomSample
from world_model_ros.core.model.contract import Observation
from world_model_ros.core.model.fast_path import FastPathConfig, InferenceEngine
from world_model_ros.core.model.latent_model import LatentDynamicsModel, LatentModelConfig
from world_model_ros.core.model.latent_predictor import LatentPredictor
from world_model_ros.core.training.mirror import mirror_batch

STEPS = 4
DT_S = 0.1
CONFIG = LatentModelConfig(
    image_size=32,
    encoder_channels=(8, 8),
    image_features=16,
    latent_dim=8,
    hidden_dim=16,
    history_steps=STEPS,
)


def history_model(seed: int = 0) -> LatentDynamicsModel:
    """A model whose history input matters (its zero-initialised last layer randomised)."""
    torch.manual_seed(seed)
    model = LatentDynamicsModel(CONFIG)
    assert model.history_in is not None
    torch.nn.init.normal_(model.history_in[-1].weight, std=0.5)
    return model.eval()


def test_the_running_twin_builds_the_history_training_sees():
    """Commands heard at their grid times and odometry at the frames' stamps give, through the
    live buffers, exactly the windows' history: the twin feeds the encoder what it learned on."""
    episode = make_episode(seed=1, steps=60)
    windows = WindowSet([episode], 32, horizon=5, history_steps=STEPS)
    commands, odometry = CommandLog(), OdomBuffer(history_s=5.0)
    checked = 0
    for t in range(len(episode)):
        stamp_s = 100.0 + t * DT_S
        odometry.add(
            OdomSample(stamp_s, episode.poses_t3[t], episode.twists_t2[t].astype(np.float32), "o")
        )
        if t >= STEPS:
            live = motion_history(
                stamp_s, STEPS, DT_S, commands, odometry, 0.5, episode.twists_t2[t]
            )
            trained = windows.history_at(torch.tensor([t]), STEPS)[0].numpy()
            np.testing.assert_allclose(live, trained, atol=1e-5)
            checked += 1
        commands.add(stamp_s, episode.commands_t2[t])  # in force from this step on
    assert checked == len(episode) - STEPS
    # before an episode's first step its first values stand in; a stale command is zero
    first = windows.history_at(torch.tensor([0]), STEPS)[0].numpy()
    assert np.allclose(first[:, 2:], episode.twists_t2[0])
    late = motion_history(200.0, STEPS, DT_S, commands, odometry, 0.5, np.zeros(2))
    assert np.allclose(late[:, :2], 0.0)


def test_every_runtime_path_encodes_the_history_as_training_does():
    model = history_model()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    twist = np.array([0.1, -0.2], np.float32)
    stalled = np.tile(np.array([0.3, 0.0, 0.0, 0.0], np.float32), (STEPS, 1))
    moving = np.tile(np.array([0.3, 0.0, 0.3, 0.0], np.float32), (STEPS, 1))
    with torch.no_grad():
        trained = model.encode(
            torch.from_numpy(image)[None],
            torch.from_numpy(twist)[None],
            torch.from_numpy(stalled)[None],
        )[0]
        other = model.encode(
            torch.from_numpy(image)[None],
            torch.from_numpy(twist)[None],
            torch.from_numpy(moving)[None],
        )[0]
    assert not torch.allclose(trained, other, atol=1e-3)  # the history is seen at all
    observation = Observation(0.0, image, np.zeros(3, np.float32), twist, stalled)
    predictor = LatentPredictor(model, torch.device("cpu"))
    engines = {
        "predictor": predictor,
        "fast path": InferenceEngine(predictor, FastPathConfig(), horizon=1),
    }
    try:
        from world_model_ros.core.model.onnx_backend import OnnxEngine

        engines["onnx"] = OnnxEngine(predictor, horizon=1)
    except ImportError:  # onnxruntime not installed: the torch paths are still compared
        pass
    for name, engine in engines.items():
        live = torch.as_tensor(engine.encode(observation).features)
        assert torch.allclose(live, trained, atol=1e-4), name
        # no history known yet: steady motion at the measured twist, the same everywhere
        steady = dataclasses.replace(observation, history_k4=None)
        expected = model.encode(torch.from_numpy(image)[None], torch.from_numpy(twist)[None])[0]
        assert torch.allclose(
            torch.as_tensor(engine.encode(steady).features), expected.detach(), atol=1e-4
        ), name


def test_a_model_given_a_history_starts_where_the_one_without_it_was():
    torch.manual_seed(0)
    without = LatentDynamicsModel(dataclasses.replace(CONFIG, history_steps=0))
    with_history = LatentDynamicsModel(CONFIG)
    missing, unexpected = with_history.load_state_dict(without.state_dict(), strict=False)
    assert unexpected == [] and all(name.startswith("history_in.") for name in missing)
    images = torch.randint(0, 255, (3, 32, 32, 3), dtype=torch.uint8)
    twists = torch.randn(3, 2)
    history = torch.randn(3, STEPS, 4)
    assert torch.equal(
        without.encode(images, twists), with_history.encode(images, twists, history)
    )


def test_mirroring_a_window_mirrors_its_history():
    windows = WindowSet([make_episode(seed=2, steps=40)], 32, horizon=5, history_steps=STEPS)
    batch = windows.gather(torch.arange(len(windows)), consistency_steps=(2,))
    mirrored, which = mirror_batch(batch, 1.0, torch.Generator().manual_seed(0))
    assert bool(which.all())
    assert mirrored.history_bk4 is not None and batch.history_bk4 is not None
    assert torch.equal(mirrored.history_bk4, batch.history_bk4 * torch.tensor([1, -1, 1, -1]))
    assert mirrored.future_history_bkk4 is not None and batch.future_history_bkk4 is not None
    assert torch.equal(
        mirrored.future_history_bkk4, batch.future_history_bkk4 * torch.tensor([1, -1, 1, -1])
    )


def test_a_history_of_the_wrong_length_is_a_clear_error():
    model = history_model()
    with pytest.raises(ValueError, match="history of 4 steps"):
        model.encode(
            torch.zeros(1, 32, 32, 3, dtype=torch.uint8), torch.zeros(1, 2), torch.zeros(1, 2, 4)
        )
    with pytest.raises(ValueError, match="history_steps"):
        LatentModelConfig(history_steps=-1)


# --- the running twin over DDS -------------------------------------------------------------------


@pytest.mark.ros
def test_the_twin_encodes_the_commands_it_heard(tmp_path):
    """A base told to drive that does not move (a stall) and one told nothing, with the same
    frame and odometry: the twin's published latents are the offline encoder's with those two
    histories, so the node builds the input from cmd_vel and its odometry as training does."""
    import rclpy
    from conftest import NodeProcess
    from ros_harness import RosTestNode
    from test_world_model_node import CONFIG, Rig, image_msg, stamp_s

    from world_model_ros.core.model.checkpoint import save_checkpoint
    from world_model_ros.msg import WorldModelState

    model = history_model(seed=3)
    checkpoint = save_checkpoint(tmp_path / "ckpt", model)
    predictor = LatentPredictor(model, torch.device("cpu"))
    context = rclpy.Context()
    rclpy.init(context=context)
    ros = RosTestNode(context, "motion_history_test")
    params = (
        "model:=latent",
        f"checkpoint:={checkpoint}",
        "use_sim_time:=true",
        "diagnostics_period_s:=0.1",
        "cmd_timeout_s:=5.0",
    )
    args = ["--ros-args", "--params-file", str(CONFIG), *[x for p in params for x in ("-p", p)]]
    node = NodeProcess("world_model_node", args, tmp_path / "node.log")
    try:
        rig = Rig(ros, node)
        states = ros.subscribe(WorldModelState, "/world_model/state", 20)
        rig.wait_ready(("camera/image_raw", "odom", "cmd_vel", "/clock"))

        def latent_at(t_s: float, command) -> np.ndarray:
            if command is not None:  # heard a second before the frame, held since
                rig.set_clock(t_s - 1.0)
                before = rig.count("cmd_vel_received")
                rig.cmd.publish(twist_msg(*command))
                rig.wait_count("cmd_vel_received", before + 1)
            rig.set_clock(t_s + 0.01)
            rig.feed(t_s)  # standing still at the origin
            rig.camera.publish(image_msg(t_s))
            rig.wait(lambda: any(stamp_s(s.header.stamp) == t_s for s in states), "a state")
            return np.array(next(s for s in states if stamp_s(s.header.stamp) == t_s).latent)

        frame = np.zeros((6, 8, 3), np.uint8)
        cases = {"stalled": ((0.3, 0.0), [0.3, 0.0, 0.0, 0.0]), "told nothing": (None, [0.0] * 4)}
        for index, (name, (command, row)) in enumerate(cases.items()):
            t_s = 1000.0 + 20.0 * index  # the earlier command long stale
            expected = predictor.encode(
                Observation(
                    t_s,
                    frame,
                    np.zeros(3, np.float32),
                    np.zeros(2, np.float32),
                    np.tile(np.array(row, np.float32), (STEPS, 1)),
                )
            ).features.numpy()
            assert np.allclose(latent_at(t_s, command), expected, atol=1e-4), name
        # moving, and no command heard: the remapping is wrong somewhere, and the node says so
        t_s = 1100.0
        rig.set_clock(t_s + 0.01)
        rig.feed(t_s, velocity=(0.3, 0.0))
        rig.camera.publish(image_msg(t_s))
        rig.wait_warning("none was heard on '/cmd_vel' while the robot moved")
    finally:
        assert node.stop() == 0, node.output()[-3000:]
        ros.destroy()
        rclpy.shutdown(context=context)


def twist_msg(v: float, w: float):
    from geometry_msgs.msg import Twist

    msg = Twist()
    msg.linear.x, msg.angular.z = v, w
    return msg
