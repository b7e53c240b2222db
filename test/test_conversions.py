"""Message <-> array conversions (nodes/conversions.py): message classes only, no DDS, no node."""

import math

import numpy as np
import pytest
import torch
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from world_model_ros.core.data.images import ImageError
from world_model_ros.core.live.input_checks import InputError
from world_model_ros.core.model.contract import Observation
from world_model_ros.core.model.kinematic import KinematicConfig, KinematicPredictor, hold_actions
from world_model_ros.msg import WorldModelPrediction
from world_model_ros.nodes import conversions as conv
from world_model_ros.nodes import scan_conversion


def odometry(x=1.0, y=2.0, yaw=0.5, v=0.3, w=-0.1, frame="odom") -> Odometry:
    msg = Odometry()
    msg.header.frame_id = frame
    msg.header.stamp.sec, msg.header.stamp.nanosec = 12, 500_000_000
    msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
    msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    msg.twist.twist.linear.x, msg.twist.twist.angular.z = v, w
    return msg


def test_time_helpers_round_trip():
    t = conv.ns_to_time(1_234_567_890_123)
    assert (t.sec, t.nanosec) == (1234, 567_890_123) and conv.time_to_ns(t) == 1_234_567_890_123
    assert conv.time_to_s(t) == pytest.approx(1234.567890123)
    assert conv.duration_to_s(conv.s_to_duration(2.25)) == 2.25
    assert conv.duration_to_s(conv.s_to_duration(-1.0)) == 0.0


def test_odometry_to_sample():
    sample = conv.odometry_to_sample(odometry())
    assert sample.stamp_s == 12.5 and sample.frame_id == "odom"
    assert sample.pose_xyyaw == pytest.approx(
        [1.0, 2.0, 0.5]
    ) and sample.twist_vw == pytest.approx([0.3, -0.1])


@pytest.mark.parametrize(
    "msg, reason",
    [
        (odometry(x=float("nan")), "non_finite"),
        (odometry(v=float("inf")), "non_finite"),
        (odometry(frame=""), "empty_frame_id"),
    ],
)
def test_bad_odometry(msg, reason):
    with pytest.raises(InputError) as error:
        conv.odometry_to_sample(msg)
    assert error.value.reason == reason


def test_zero_quaternion_is_rejected():
    msg = odometry()
    msg.pose.pose.orientation.w = msg.pose.pose.orientation.z = 0.0
    with pytest.raises(InputError, match="zero quaternion"):
        conv.odometry_to_sample(msg)


def test_twist_to_vw():
    msg = Twist()
    msg.linear.x, msg.angular.z = 0.7, 0.2
    assert conv.twist_to_vw(msg) == pytest.approx([0.7, 0.2])
    msg.angular.x = float("nan")  # NaN anywhere is suspect, even in unused axes
    with pytest.raises(InputError):
        conv.twist_to_vw(msg)


def test_image_to_rgb_uses_step_and_reports_reason():
    msg = Image(height=2, width=2, encoding="bgr8", step=8)
    msg.data = bytes([1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0])
    assert conv.image_to_rgb(msg).tolist() == [[[3, 2, 1], [6, 5, 4]], [[9, 8, 7], [12, 11, 10]]]
    msg.encoding = "16UC1"
    with pytest.raises(ImageError) as error:
        conv.image_to_rgb(msg)
    assert error.value.reason == "bad_encoding"


def test_plan_from_prediction():
    msg = WorldModelPrediction(dt=0.2)
    msg.header.stamp.sec = 3
    msg.actions = [Twist() for _ in range(4)]
    msg.actions[1].linear.x = 0.5
    plan = conv.prediction_to_plan(msg)
    assert plan.stamp_s == 3.0 and plan.dt_s == 0.2 and plan.actions_n2[1].tolist() == [0.5, 0.0]
    msg.dt = 0.0
    with pytest.raises(InputError) as error:
        conv.prediction_to_plan(msg)
    assert error.value.reason == "bad_plan"
    msg.dt, msg.actions = 0.1, []
    with pytest.raises(InputError):
        conv.prediction_to_plan(msg)


def test_rollout_to_prediction_path_and_markers():
    model = KinematicPredictor(KinematicConfig(dt_s=0.1, horizon=5))
    latent = model.encode(Observation(0.0, None, np.zeros(3, np.float32), np.zeros(2, np.float32)))
    actions = hold_actions(torch.tensor([1.0, 0.0]), 1, 5)
    rollout = model.rollout(latent, actions).to_numpy()
    header = Header(frame_id="odom")
    header.stamp.sec = 100
    prediction = conv.rollout_to_prediction(
        header, "kinematic", 0.1, rollout, actions[0].numpy(), "cmd_vel"
    )
    assert (
        len(prediction.states) == len(prediction.actions) == 5
        and prediction.action_source == "cmd_vel"
    )
    assert prediction.states[-1].pose.position.x == pytest.approx(0.5)
    assert conv.duration_to_s(prediction.states[2].time_from_stamp) == pytest.approx(0.3)

    start = conv.pose_from_xyyaw(0.0, 0.0, 0.0)
    path = conv.prediction_to_path(prediction, start)
    assert len(path.poses) == 6 and path.header.frame_id == "odom"
    assert conv.time_to_s(path.poses[-1].header.stamp) == pytest.approx(100.5)

    markers = conv.prediction_to_markers(prediction, start, sigma=2.0, lifetime_s=1.0).markers
    assert markers[0].type == Marker.LINE_STRIP and len(markers[0].points) == 6
    discs = markers[1:]
    assert [m.id for m in discs] == [1, 2, 3, 4, 5] and all(
        m.type == Marker.CYLINDER for m in discs
    )
    assert discs[-1].scale.x > discs[0].scale.x  # uncertainty grows with time
    assert discs[0].scale.x == pytest.approx(
        4.0 * math.sqrt(prediction.states[0].position_variance), rel=1e-6
    )
    assert conv.collision_colour(1.0, 0.5).r == 1.0 and conv.collision_colour(0.0, 0.5).g == 1.0


def test_laser_scan_ranges_outside_the_limits_are_no_return_and_bad_scans_are_named():
    from sensor_msgs.msg import LaserScan

    def scan(**fields) -> LaserScan:
        msg = LaserScan(angle_min=-1.0, angle_increment=0.5, range_min=0.1, range_max=5.0)
        msg.header.frame_id = "laser"
        msg.header.stamp.sec = 7
        msg.ranges = [1.0, float("nan"), 0.05, 6.0, float("inf")]
        for name, value in fields.items():
            setattr(msg, name, value)
        return msg

    stamp_s, angles, ranges = scan_conversion.laser_scan(scan())
    assert stamp_s == 7.0
    assert np.allclose(angles, [-1.0, -0.5, 0.0, 0.5, 1.0])
    assert ranges[0] == 1.0 and np.isinf(ranges[1:]).all()
    for fields, reason in [
        ({"ranges": []}, "bad_scan"),
        ({"angle_increment": 0.0}, "bad_scan"),
        ({"angle_min": float("nan")}, "bad_scan"),
        ({"range_max": float("inf")}, "bad_scan"),
        ({"ranges": [1.0] * (scan_conversion.MAX_SCAN_BEAMS + 1)}, "bad_scan"),
    ]:
        with pytest.raises(InputError) as error:
            scan_conversion.laser_scan(scan(**fields))
        assert error.value.reason == reason, fields
    bad_frame = scan()
    bad_frame.header.frame_id = ""
    with pytest.raises(InputError) as error:
        scan_conversion.laser_scan(bad_frame)
    assert error.value.reason == "empty_frame_id"
