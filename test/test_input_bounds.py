"""Physical plausibility on the way in, the last check on the way out (no DDS, no node).

Issue 15 findings reproduced at the conversion level: finding 3 (a Twist of 1e308, an odometry
twist of 1e308 or a position of 1e308 went into the model and came out as NaN / inf),
finding 6 (NaN covariance, the quaternion (2, 0, 0, 0) used as is; a CompressedImage whose
``format`` disagrees with its data), finding 4 (a 48.6 KB PNG of 20000 x 20000 pixels decoded
before its size was checked). Every malformed case the fuzz strategies draw is rejected here
with one of its reasons, so the DDS fuzz tests (test_fuzz.py) and this oracle agree.
"""

import math
import resource
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from malformed import (
    bomb_png,
    compressed,
    compressed_cases,
    goal_cases,
    image_cases,
    jpeg_bytes,
    odom_cases,
    odometry,
    plan_cases,
    png_bytes,
    state_cases,
    twist,
    twist_cases,
)

from world_model_ros.core.config import ConfigError
from world_model_ros.core.data.images import ImageError, decode_compressed
from world_model_ros.core.live.input_checks import InputBounds, InputError
from world_model_ros.core.live.output_checks import (
    plan_problem,
    prediction_problem,
    state_problem,
)
from world_model_ros.core.model.contract import Observation
from world_model_ros.core.model.kinematic import KinematicConfig, KinematicPredictor, hold_actions
from world_model_ros.nodes import conversions as conv
from world_model_ros.nodes.planner_messages import goal_to_xyyaw, state_to_input

BOUNDS = InputBounds()


def reason_of(call) -> str:
    with pytest.raises((InputError, ImageError)) as error:
        call()
    return error.value.reason


# --- finding 3: finite but absurd magnitudes ---------------------------------------------------


@pytest.mark.parametrize(
    "msg",
    [twist(1e308, 0.0), twist(0.0, 1e308), twist(25.0, 0.0), twist(0.0, -21.0)],
    ids=["v=1e308", "w=1e308", "v=25", "w=-21"],
)
def test_commands_beyond_the_bounds_are_rejected(msg):
    assert reason_of(lambda: conv.twist_to_vw(msg, BOUNDS)) == "out_of_bounds"


def test_odometry_beyond_the_bounds_is_rejected():
    fast = odometry(10.0, v=0.2)
    fast.twist.twist.linear.x = 1e308
    far = odometry(10.0)
    far.pose.pose.position.x = 1e308
    spinning = odometry(10.0)
    spinning.twist.twist.angular.y = 1e5
    for msg in (fast, far, spinning):
        assert reason_of(lambda msg=msg: conv.odometry_to_sample(msg, BOUNDS)) == "out_of_bounds"
    assert conv.odometry_to_sample(odometry(10.0, x=99_999.0, v=19.9), BOUNDS).stamp_s == 10.0


def test_the_bounds_are_configurable_and_validated():
    tight = InputBounds(max_speed_mps=0.5, max_yaw_rate_radps=1.0, max_position_m=10.0)
    assert reason_of(lambda: conv.twist_to_vw(twist(0.6, 0.0), tight)) == "out_of_bounds"
    assert conv.twist_to_vw(twist(0.6, 0.0), BOUNDS).tolist() == [0.6, 0.0]
    with pytest.raises(ConfigError, match="max_speed_mps"):
        InputBounds(max_speed_mps=-1.0)
    with pytest.raises(ConfigError, match="quaternion_norm_tolerance"):
        InputBounds(quaternion_norm_tolerance=math.nan)


# --- finding 6: NaN covariance, a quaternion of norm 2 ------------------------------------------


@pytest.mark.parametrize("where", ["pose", "twist"])
def test_nan_covariance_is_rejected(where):
    msg = odometry(10.0)
    getattr(msg, where).covariance[7] = math.nan
    assert reason_of(lambda: conv.odometry_to_sample(msg, BOUNDS)) == "non_finite"
    relaxed = InputBounds(require_finite_covariance=False)
    assert conv.odometry_to_sample(msg, relaxed).frame_id == "odom"


@pytest.mark.parametrize("q", [(2.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.9), (0.0, 0.0, 1e6, 1.0)])
def test_a_quaternion_that_is_not_a_rotation_is_rejected(q):
    msg = odometry(10.0)
    o = msg.pose.pose.orientation
    o.x, o.y, o.z, o.w = q
    assert reason_of(lambda: conv.odometry_to_sample(msg, BOUNDS)) == "bad_quaternion"
    o.x, o.y, o.z, o.w = 0.0, 0.0, 0.0, 1.02  # within the 0.05 tolerance: used
    assert conv.odometry_to_sample(msg, BOUNDS).pose_xyyaw[2] == pytest.approx(0.0)


# --- the fuzz strategies' cases, judged by the conversions --------------------------------------


def _convert(case, now_s: float = 1000.0):
    msg = case.build(now_s)
    if case.topic == "odom":
        return conv.odometry_to_sample(msg, BOUNDS)
    if case.topic == "cmd_vel":
        return conv.twist_to_vw(msg, BOUNDS)
    if case.topic == "mpc_planner/plan":
        return conv.prediction_to_plan(msg, BOUNDS)
    if case.topic == "goal_pose":
        if msg.header.frame_id != "odom":
            raise InputError("wrong_frame", msg.header.frame_id)
        return goal_to_xyyaw(msg, BOUNDS)
    if case.topic == "world_model/state":
        import torch

        return state_to_input(msg, "kinematic", "", torch.device("cpu"), BOUNDS)
    if case.topic == "camera/image_raw":
        conv.require_frame_id(msg.header.frame_id)
        return conv.image_to_rgb(msg)
    return conv.compressed_to_rgb(msg)


@given(
    case=st.one_of(
        odom_cases(),
        twist_cases(),
        plan_cases(),
        goal_cases(),
        state_cases(),
        image_cases(),
        compressed_cases(),
    )
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_malformed_case_is_rejected_with_one_of_its_reasons(case):
    if "stamp_outlier" in case.reasons:
        return  # a stamp is judged against the node's timeline (test_sync.py, test_fuzz.py)
    try:
        _convert(case)
    except (InputError, ImageError) as error:
        assert error.reason in case.reasons, (case, error)
    else:
        pytest.fail(f"{case} was accepted")


# --- finding 4 and 6: compressed images -------------------------------------------------------


def test_the_bomb_is_rejected_from_its_header_without_decoding():
    """A 48.6 KB PNG of 20000 x 20000 pixels: rejected before decoding, in a fresh process whose
    peak resident memory grows by less than 50 MB (decoding it needs 1.2 GB)."""
    assert len(bomb_png()) < 50_000
    script = (
        "import resource, sys; sys.path.insert(0, 'test');"
        "from malformed import bomb_png; from world_model_ros.core.data.images import "
        "decode_compressed, ImageError; data = bomb_png();"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    decode_compressed(data, 4096 * 4096, 'png')\nexcept ImageError as e:\n"
        "    print(e.reason, e)\n"
        "print('grew_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "bad_size" in out and "20000x20000" in out and "not decoded" in out, out
    grew_kb = int(out.split("grew_kb")[-1])
    assert grew_kb < 50_000, out
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


@pytest.mark.parametrize(
    "data, fmt, reason",
    [
        (png_bytes, "jpeg", "format_mismatch"),
        (jpeg_bytes, "bgr8; png compressed bgr8", "format_mismatch"),
        (png_bytes, "16UC1; compressedDepth png", "bad_format"),
        (png_bytes, "tiff", "bad_format"),
        (lambda: png_bytes()[:20], "png", "bad_encoding"),
        (lambda: b"GIF89a" + bytes(30), "", "bad_encoding"),
    ],
)
def test_compressed_format_must_agree_with_the_data(data, fmt, reason):
    assert reason_of(lambda: conv.compressed_to_rgb(compressed(1.0, data(), fmt))) == reason


@pytest.mark.parametrize(
    "data, fmt",
    [
        (jpeg_bytes, "jpeg"),
        (jpeg_bytes, "rgb8; jpeg compressed bgr8"),
        (png_bytes, "png"),
        (png_bytes, "PNG"),
        (png_bytes, ""),  # no format: the magic bytes decide
    ],
)
def test_compressed_images_that_say_what_they_are_decode(data, fmt):
    assert conv.compressed_to_rgb(compressed(1.0, data(), fmt)).shape == (48, 64, 3)
    assert decode_compressed(data()).shape == (48, 64, 3)  # the dataset loader: no format


# --- the last check on every output -----------------------------------------------------------


def _rollout(v: float = 0.5):
    model = KinematicPredictor(KinematicConfig(dt_s=0.1, horizon=5))
    latent = model.encode(Observation(0.0, None, np.zeros(3, np.float32), np.zeros(2, np.float32)))
    actions = hold_actions(__import__("torch").tensor([v, 0.0]), 1, 5)
    return model.rollout(latent, actions).to_numpy(), actions[0].numpy()


def test_predictions_that_are_not_finite_or_plausible_are_withheld():
    rollout, actions = _rollout()
    assert prediction_problem(rollout, BOUNDS) is None
    assert plan_problem(actions, rollout, BOUNDS) is None
    for key, index, value, words in (
        ("poses_bh3", (0, 2, 0), math.nan, "NaN"),
        ("poses_bh3", (0, 4, 1), 2e5, "position"),
        ("twists_bh2", (0, 1, 0), math.inf, "speed"),
        ("position_var_bh", (0, 3), -1.0, "negative"),
        ("collision_prob_bh", (0, 0), 1.5, "[0, 1]"),
    ):
        broken = {k: v.copy() for k, v in rollout.items()}
        broken[key][index] = value
        problem = prediction_problem(broken, BOUNDS)
        assert problem and words in problem, (key, problem)
    assert "plan speed" in plan_problem(np.array([[math.nan, 0.0]]), rollout, BOUNDS)
    assert state_problem(np.zeros(3), np.zeros(2), np.ones(4), BOUNDS) is None
    assert "latent" in state_problem(np.zeros(3), np.zeros(2), np.array([1e5]), BOUNDS)
    assert "position" in state_problem(np.array([math.inf, 0, 0]), np.zeros(2), None, BOUNDS)
