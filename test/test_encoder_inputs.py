"""The encoder's inputs besides the frame: the history (the steps before a frame, what the robot
was told and what it did) and the LaserScan (the nearest return in each sector around the
robot). The same numbers in training and in every runtime path, and a model that gains them
starts where the one without them was."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from runtime_engines import runtime_engines
from synthetic_episodes import make_episode

from world_model_ros.core.data.scan_input import (
    SCAN_MAX_AGE_S,
    episode_scan_inputs,
    no_scan,
    scan_points,
    sector_input,
    sensor_pose,
)
from world_model_ros.core.data.windows import WindowSet
from world_model_ros.core.live.domain import CommandLog
from world_model_ros.core.live.motion_history import motion_history
from world_model_ros.core.live.scan_log import ScanLog
from world_model_ros.core.live.sync import OdomBuffer, OdomSample
from world_model_ros.core.model.contract import EncoderInputs, Observation
from world_model_ros.core.model.latent_model import LatentDynamicsModel, LatentModelConfig
from world_model_ros.core.model.latent_predictor import LatentPredictor
from world_model_ros.core.training.mirror import mirror_batch

STEPS = 4
CONFIG_SCAN_RANGE_M = 3.0
DT_S = 0.1
CONFIG = LatentModelConfig(
    image_size=32,
    encoder_channels=(8, 8),
    image_features=16,
    latent_dim=8,
    hidden_dim=16,
    history_steps=STEPS,
    scan_sectors=8,
)


def history_model(seed: int = 0) -> LatentDynamicsModel:
    """A model whose history and scan inputs matter (zero-initialised last layers randomised)."""
    torch.manual_seed(seed)
    model = LatentDynamicsModel(CONFIG)
    assert model.history_in is not None and model.scan_in is not None
    torch.nn.init.normal_(model.history_in[-1].weight, std=0.5)
    torch.nn.init.normal_(model.scan_in[-1].weight, std=0.5)
    return model.eval()


def wall_scan(distance_m: float = 1.0, half_width_rad: float = 0.35):
    """A 360-beam scan (REP-103 angles from -pi) that sees only a wall ahead."""
    angles = -np.pi + 2 * np.pi / 360 * np.arange(360)
    ranges = np.where(np.abs(angles) < half_width_rad, distance_m / np.cos(angles), np.inf)
    return angles, ranges


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


def test_every_runtime_path_encodes_history_and_scan_as_training_does():
    model = history_model()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    twist = np.array([0.1, -0.2], np.float32)
    stalled = np.tile(np.array([0.3, 0.0, 0.0, 0.0], np.float32), (STEPS, 1))
    moving = np.tile(np.array([0.3, 0.0, 0.3, 0.0], np.float32), (STEPS, 1))
    origin = np.zeros(3)
    wall = sector_input(scan_points(origin, *wall_scan()), origin, 8, CONFIG.scan_range_m)

    def encode(history=None, scan=None) -> torch.Tensor:
        with torch.no_grad():
            return model.encode(
                torch.from_numpy(image)[None],
                torch.from_numpy(twist)[None],
                None if history is None else torch.from_numpy(history)[None],
                None if scan is None else torch.from_numpy(scan)[None],
            )[0]

    trained = encode(stalled, wall)
    assert not torch.allclose(trained, encode(moving, wall), atol=1e-3)  # the history is seen
    assert not torch.allclose(trained, encode(stalled, no_scan(8)), atol=1e-3)  # and the scan
    observation = Observation(0.0, image, np.zeros(3, np.float32), twist, stalled, wall)
    predictor = LatentPredictor(model, torch.device("cpu"))
    engines = runtime_engines(predictor)
    for name, engine in engines.items():
        live = torch.as_tensor(engine.encode(observation).features)
        assert torch.allclose(live, trained, atol=1e-4), name
        # nothing known: steady motion at the measured twist and no scan, the same everywhere
        unknown = dataclasses.replace(observation, history_k4=None, scan_n=None)
        expected = encode(None, no_scan(8))
        assert torch.allclose(
            torch.as_tensor(engine.encode(unknown).features), expected, atol=1e-4
        ), name


def test_a_scan_is_seen_from_where_the_robot_is_at_the_frame():
    """A wall 1.5 m ahead scanned from 0.5 m further back reads 1 m ahead once the robot has
    driven on; the flag says a scan was there; a mirrored scene reverses the sectors."""
    wall = scan_points(np.zeros(3), *wall_scan(1.5))
    there = sector_input(wall, np.array([0.5, 0.0, 0.0]), 8, 3.0)
    front = there[3:5]  # sectors 3 and 4 meet at bearing 0
    assert np.allclose(front, 1.0 / 3.0, atol=0.01) and there[-1] == 1.0
    assert np.allclose(np.delete(there[:-1], [3, 4]), 1.0)  # nothing else within 3 m
    turned = sector_input(wall, np.array([0.5, 0.0, np.pi / 2]), 8, 3.0)  # now on the right
    assert turned[1] == pytest.approx(turned[2], abs=0.01) and turned[1] < 0.5
    left = scan_points(np.zeros(3), *wall_scan(0.8, 0.2)) + np.array([0.3, 0.5])
    seen = sector_input(left, np.zeros(3), 8, 3.0)
    in_mirror = sector_input(left * np.array([1.0, -1.0]), np.zeros(3), 8, 3.0)
    assert np.allclose(in_mirror[:-1], seen[:-1][::-1]) and not np.allclose(seen, in_mirror)
    assert list(no_scan(8)) == [1.0] * 8 + [0.0]


def test_training_windows_see_the_scan_the_running_twin_does():
    """The loader's per-step scan input (episode_scan_inputs) is the twin's sector_input of the
    newest scan before each step, moved to the step's pose; older than SCAN_MAX_AGE_S: none."""
    episode = make_episode(seed=3, steps=30)
    stamps = episode.stamps_s
    scan_stamps = list(stamps[::3] - 0.02)
    clouds = [scan_points(np.asarray(p), *wall_scan(1.2)) for p in episode.poses_t3[::3]]
    rows = episode_scan_inputs(stamps, episode.poses_t3, scan_stamps, clouds, 8, 3.0)
    for t in range(len(stamps)):
        k = t // 3
        expected = (
            sector_input(clouds[k], episode.poses_t3[t], 8, 3.0)
            if stamps[t] - scan_stamps[k] <= SCAN_MAX_AGE_S
            else no_scan(8)
        )
        np.testing.assert_allclose(rows[t], expected)
    episode.scan_tk = rows
    windows = WindowSet([episode], 32, horizon=5, scan_sectors=8)
    batch = windows.gather(torch.arange(len(windows)), consistency_steps=(2,))
    assert batch.scan_bn is not None
    np.testing.assert_allclose(batch.scan_bn.numpy(), rows[windows.starts.numpy()])
    plain = WindowSet([make_episode(seed=4, steps=30)], 32, horizon=5, scan_sectors=8)
    assert plain.scans is not None and bool((plain.scans[:, -1] == 0).all())  # no scan known


def test_running_encoders_pick_and_place_scans_as_the_loader_does():
    """ScanLog (the twin's and the planner's local encoder's scans) gives, frame by frame, the
    loader's episode_scan_inputs row for the same scans and odometry; a scan newer than the
    frame is not used, one older than SCAN_MAX_AGE_S reads as none, and a scan not newer than
    the newest is refused (whether an older stamp is a new timeline is the node's
    StampMonitor's to say; on one it clears the log)."""
    episode = make_episode(seed=5, steps=30)
    stamps = 100.0 + np.arange(len(episode)) * DT_S
    odometry = OdomBuffer(history_s=10.0)
    for t, stamp_s in enumerate(stamps):
        odometry.add(OdomSample(stamp_s, episode.poses_t3[t], episode.twists_t2[t], "odom"))
    scan_stamps = stamps[::4] - 0.03
    beams = wall_scan(1.2)
    forward_m = 0.1
    clouds = [
        scan_points(sensor_pose(odometry.lookup(s, 0.05).pose_xyyaw, forward_m), *beams)
        for s in scan_stamps
    ]
    rows = episode_scan_inputs(stamps, episode.poses_t3, scan_stamps, clouds, 8, 3.0)
    inputs = EncoderInputs(scan_sectors=8, scan_range_m=3.0, scan_forward_m=forward_m)
    log = ScanLog(keep=len(scan_stamps))
    for s in scan_stamps:
        assert log.add((float(s), *beams))
    none_count = 0
    for t, stamp_s in enumerate(stamps):
        live = log.input_at(float(stamp_s), episode.poses_t3[t], odometry, 0.05, inputs)
        if live is None:
            np.testing.assert_allclose(rows[t], no_scan(8))
            none_count += 1
        else:
            np.testing.assert_allclose(live, rows[t], atol=1e-6)
    assert 0 < none_count < len(stamps)  # both kinds of frame were met
    kept = len(log)
    assert not log.add((float(scan_stamps[-1]) - 0.1, *beams))  # late: refused
    assert not log.add((0.0, *beams)) and len(log) == kept  # stamped 0: refused, nothing lost
    log.clear()
    assert log.add((0.0, *beams)) and len(log) == 1


def test_a_model_given_new_inputs_starts_where_the_one_without_them_was():
    torch.manual_seed(0)
    without = LatentDynamicsModel(dataclasses.replace(CONFIG, history_steps=0, scan_sectors=0))
    with_inputs = LatentDynamicsModel(CONFIG)
    missing, unexpected = with_inputs.load_state_dict(without.state_dict(), strict=False)
    assert unexpected == []
    assert all(name.startswith(("history_in.", "scan_in.")) for name in missing)
    images = torch.randint(0, 255, (3, 32, 32, 3), dtype=torch.uint8)
    twists = torch.randn(3, 2)
    history = torch.randn(3, STEPS, 4)
    scan = torch.rand(3, 9)
    assert torch.equal(
        without.encode(images, twists), with_inputs.encode(images, twists, history, scan)
    )


def test_mirroring_a_window_mirrors_its_history_and_scan():
    episode = make_episode(seed=2, steps=40)
    episode.scan_tk = np.random.default_rng(0).random((len(episode), 9)).astype(np.float32)
    windows = WindowSet([episode], 32, horizon=5, history_steps=STEPS, scan_sectors=8)
    batch = windows.gather(torch.arange(len(windows)), consistency_steps=(2,))
    mirrored, which = mirror_batch(batch, 1.0, torch.Generator().manual_seed(0))
    assert bool(which.all())
    flip = torch.tensor([1, -1, 1, -1])
    assert mirrored.history_bk4 is not None and batch.history_bk4 is not None
    assert torch.equal(mirrored.history_bk4, batch.history_bk4 * flip)
    assert mirrored.future_history_bkk4 is not None and batch.future_history_bkk4 is not None
    assert torch.equal(mirrored.future_history_bkk4, batch.future_history_bkk4 * flip)
    assert mirrored.scan_bn is not None and batch.scan_bn is not None
    assert torch.equal(mirrored.scan_bn[:, :-1], batch.scan_bn[:, :-1].flip(-1))
    assert torch.equal(mirrored.scan_bn[:, -1], batch.scan_bn[:, -1])


def test_inputs_of_the_wrong_size_are_a_clear_error():
    model = history_model()
    image, twist = torch.zeros(1, 32, 32, 3, dtype=torch.uint8), torch.zeros(1, 2)
    with pytest.raises(ValueError, match="history of 4 steps"):
        model.encode(image, twist, torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="scan of 8 sectors"):
        model.encode(image, twist, None, torch.zeros(1, 5))
    with pytest.raises(ValueError, match="history_steps"):
        LatentModelConfig(history_steps=-1)
    with pytest.raises(ValueError, match="scan_sectors"):
        LatentModelConfig(scan_sectors=-2)


# --- the running twin over DDS -------------------------------------------------------------------


@pytest.mark.ros
def test_the_twin_encodes_the_commands_it_heard_and_the_scan_it_saw(tmp_path):
    """A base told to drive that does not move (a stall), one told nothing, and one with a wall
    in its LaserScan, with the same frame and odometry: the twin's published latents are the
    offline encoder's with those inputs, so the node builds them from cmd_vel, scan and its
    odometry as training does."""
    import rclpy
    from conftest import NodeProcess
    from ros_harness import RosTestNode
    from sensor_msgs.msg import LaserScan
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

        scans = ros.publisher(LaserScan, "/scan", 10)

        def latent_at(t_s: float, command, scan: bool) -> np.ndarray:
            if scan:  # stamped just before the frame, as a 10 Hz LiDAR's would be
                rig.set_clock(t_s - 0.05)
                before = rig.count("scan_received")
                scans.publish(scan_msg(t_s - 0.05))
                rig.wait_count("scan_received", before + 1)
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
        origin = np.zeros(3)
        wall = sector_input(scan_points(origin, *wall_scan()), origin, 8, CONFIG_SCAN_RANGE_M)
        stalled, nothing = [0.3, 0.0, 0.0, 0.0], [0.0] * 4
        cases = {
            "stalled": ((0.3, 0.0), stalled, None),
            "told nothing": (None, nothing, None),
            "stalled at a wall": ((0.3, 0.0), stalled, wall),
        }
        for index, (name, (command, row, scan)) in enumerate(cases.items()):
            t_s = 1000.0 + 20.0 * index  # the earlier command and scan long stale
            expected = predictor.encode(
                Observation(
                    t_s,
                    frame,
                    np.zeros(3, np.float32),
                    np.zeros(2, np.float32),
                    np.tile(np.array(row, np.float32), (STEPS, 1)),
                    scan,
                )
            ).features.numpy()
            latent = latent_at(t_s, command, scan is not None)
            assert np.allclose(latent, expected, atol=1e-4), name
            if scan is None:  # starting up, no scan yet: read as "no scan", without a warning
                assert "takes a LaserScan" not in node.output(), name
        # moving, and no command heard: the remapping is wrong somewhere, and the node says so
        t_s = 1100.0
        rig.set_clock(t_s + 0.01)
        rig.feed(t_s, velocity=(0.3, 0.0))
        rig.camera.publish(image_msg(t_s))
        rig.wait_warning("none was heard on '/cmd_vel' while the robot moved")
        # the LiDAR has spoken before, and its newest scan is a minute old: said
        rig.wait_warning("takes a LaserScan on '/scan' and none is within 0.3 s")
    finally:
        assert node.stop() == 0, node.output()[-3000:]
        ros.destroy()
        rclpy.shutdown(context=context)


def scan_msg(t_s: float):
    from sensor_msgs.msg import LaserScan
    from test_world_model_node import to_time

    angles, ranges = wall_scan()
    msg = LaserScan(angle_min=float(angles[0]), angle_increment=float(angles[1] - angles[0]))
    msg.header.stamp = to_time(t_s)
    msg.header.frame_id = "laser"
    msg.angle_max = float(angles[-1])
    msg.range_min, msg.range_max = 0.05, 10.0
    msg.ranges = [float(r) for r in ranges]
    return msg


def twist_msg(v: float, w: float):
    from geometry_msgs.msg import Twist

    msg = Twist()
    msg.linear.x, msg.angular.z = v, w
    return msg
