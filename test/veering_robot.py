"""A robot that veers, and a tiny learned model that knows it: the domain check's test rig.

Shared by test/test_domain.py (the out-of-domain switch over DDS) and bench/domain_check.py
(how long the switch takes). ``write_veering_checkpoint`` writes a learned model that is the
kinematic baseline plus a constant turn, exactly (no training); ``ScriptedRobot`` is a
differential-drive robot played by an rclpy node in the caller's process, turning
``drift_radps`` more than it is commanded. Whether the model is in its domain is then the
caller's choice: the same veer (it is), another one (it is not).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from world_model_ros.core.live.domain import kinematic_baseline_h3

DT_S, HORIZON = 0.1, 20
VEER_RADPS = 0.5  # the robot the test checkpoint knows turns this much left of its commands


def write_veering_checkpoint(folder, veer_radps: float, sigma_2s_m: float = 0.1):
    """A tiny learned model that knows one thing: its robot turns ``veer_radps`` left of every
    command (a drifting odometry yaw, say), with an honest interval (``sigma_2s_m`` after 2 s).

    Its motion residual is that constant turn (the residual head's weights are zero, so the
    camera and the latent change nothing), its variance head a constant increment, its collision
    head about zero: the kinematic baseline plus a veer, exactly, so the test knows what the
    model predicts without training one.
    """
    from world_model_ros.core.model.checkpoint import save_checkpoint
    from world_model_ros.core.model.latent_model import (
        HEAD_COLLISION,
        HEAD_DELTA,
        HEAD_POS_VAR,
        LatentDynamicsModel,
        LatentModelConfig,
        Normalisation,
    )

    torch.manual_seed(0)
    config = LatentModelConfig(
        image_size=16,
        encoder_channels=(4, 8),
        image_features=8,
        latent_dim=8,
        hidden_dim=16,
        dynamics_layers=1,
        dt_s=DT_S,
        horizon=HORIZON,
    )
    model = LatentDynamicsModel(config, Normalisation(delta_mean=[0.0, 0.0, veer_radps * DT_S]))
    d = config.latent_dim
    with torch.no_grad():
        for row in (*range(HEAD_DELTA.start, HEAD_DELTA.stop), HEAD_POS_VAR, HEAD_COLLISION):
            model.out.weight[d + row].zero_()
            model.out.bias[d + row] = 0.0
        per_step_var = sigma_2s_m**2 / HORIZON  # delta_std is 1: the variance scale is 1 m^2
        model.out.bias[d + HEAD_POS_VAR] = math.log(math.expm1(per_step_var))
        model.out.bias[d + HEAD_COLLISION] = -8.0
    return save_checkpoint(folder, model)


class ScriptedRobot:
    """A differential-drive robot played by ``node`` (an rclpy node of the caller, spun by the
    caller): it obeys ``cmd_vel`` (held for 0.5 s) and turns ``drift_radps`` more than
    commanded; odometry at 50 Hz, a plain 16x16 camera frame at 10 Hz, both stamped with the
    node's clock."""

    def __init__(self, node, drift_radps: float):
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.node, self.drift_radps = node, drift_radps
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.odom_pub = node.create_publisher(Odometry, "odom", reliable)
        self.camera_pub = node.create_publisher(Image, "camera/image_raw", reliable)
        self.pose = np.zeros(3)
        self.command = np.zeros(2)
        self.command_s = -math.inf
        self.last_s: float | None = None
        self.ticks = 0
        self.frame = Image(height=16, width=16, encoding="rgb8", step=48, data=bytes([90] * 768))
        self.frame.header.frame_id = "camera"
        node.create_subscription(Twist, "cmd_vel", self._on_cmd, 10)
        self.timer = node.create_timer(0.02, self._tick)

    def now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _on_cmd(self, msg) -> None:
        self.command = np.array([msg.linear.x, msg.angular.z])
        self.command_s = self.now_s()

    def _tick(self) -> None:
        from nav_msgs.msg import Odometry

        now_s = self.now_s()
        command = self.command if now_s - self.command_s <= 0.5 else np.zeros(2)
        vw = command + [0.0, self.drift_radps]
        if self.last_s is not None:
            self.pose = kinematic_baseline_h3(self.pose, vw[None], now_s - self.last_s)[0]
        self.last_s = now_s
        stamp = self.node.get_clock().now().to_msg()
        odom = Odometry()
        odom.header.stamp, odom.header.frame_id, odom.child_frame_id = stamp, "odom", "base_link"
        odom.pose.pose.position.x, odom.pose.pose.position.y = self.pose[:2]
        odom.pose.pose.orientation.z = math.sin(self.pose[2] / 2)
        odom.pose.pose.orientation.w = math.cos(self.pose[2] / 2)
        odom.twist.twist.linear.x, odom.twist.twist.angular.z = vw
        self.odom_pub.publish(odom)
        if self.ticks % 5 == 0:
            self.frame.header.stamp = stamp
            self.camera_pub.publish(self.frame)
        self.ticks += 1
