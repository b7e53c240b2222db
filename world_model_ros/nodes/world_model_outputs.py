"""What the world-model node publishes for a frame: the twin's state, the prediction, a path
and rviz markers, each behind the last check on an output.

A mixin of ``WorldModelRuntime`` (``world_model_runtime.py``), apart from the cycle
(``world_model_cycle.py``) because the primary and the shadow worker (``world_model_shadow.py``)
publish through the same code: messages preallocated per thread and filled in place, and an
output that fails its check (core/live/output_checks.py) withheld, counted and logged instead.
"""

from __future__ import annotations

import array

import numpy as np
from std_msgs.msg import Header

from world_model_ros.core.live.sync import OdomSample
from world_model_ros.core.model.contract import LatentState
from world_model_ros.msg import WorldModelState
from world_model_ros.nodes import conversions as conv


class TwinOutputs:
    """The twin's outputs: state message, prediction/path/markers, withholding (mixin)."""

    def _state_message(self, stamp, frame_id: str, model, latent: LatentState) -> WorldModelState:
        """The twin's state for one frame (msg/WorldModelState.msg)."""
        msg = WorldModelState(
            header=Header(stamp=stamp, frame_id=frame_id),
            model_id=model.model_id,
            checkpoint_sha256=model.weights_sha256,
        )
        x, y, yaw = (float(v) for v in latent.pose_3.detach().cpu().tolist())
        msg.pose = conv.pose_from_xyyaw(x, y, yaw)
        v, w = (float(v) for v in latent.twist_2.detach().cpu().tolist())
        msg.twist.linear.x, msg.twist.angular.z = v, w
        if latent.features is not None:
            features = latent.features.detach().float().cpu().numpy().ravel()
            msg.latent = array.array("f", features.tobytes())  # the generated setter's fast path
        return msg

    def _publish_prediction(
        self,
        stamp,
        stamp_s: float,
        odom: OdomSample,
        model_id: str,
        dt_s: float,
        rollout_np: dict,
        actions_h2: np.ndarray,
        source: str,
        shadow: bool = False,
    ):
        """Fill the thread's preallocated messages in place and publish them; returns (prediction,
        latency s)."""
        cfg = self.config
        messages = self._shadow_messages if shadow else self._messages
        prediction, path, markers = messages.fill(
            stamp,
            odom.frame_id,
            model_id,
            dt_s,
            rollout_np,
            actions_h2,
            source,
            odom.pose_xyyaw,
            cfg.marker_sigma,
            cfg.marker_lifetime_s,
        )
        latency_s = self._now_s() - stamp_s
        prediction.latency = conv.s_to_duration(latency_s)
        if shadow:
            self._shadow_pub.publish(prediction)
        elif self.active:
            self._prediction_pub.publish(prediction)
            self._path_pub.publish(path)
            self._marker_pub.publish(markers)
        return prediction, latency_s

    def _withhold(self, topic: str, problem: str) -> None:
        """The last check on an output failed: it is not published; counted, logged as an
        error, and diagnostics go ERROR (core/live/output_checks.py)."""
        with self._lock:
            self._counts["invalid_outputs"] += 1
            self._last_invalid_output = f"{topic}: {problem}"
        self.node.get_logger().error(
            f"not publishing {topic}: {problem} (input_bounds; counted as invalid_outputs)",
            throttle_duration_sec=5.0,
        )
