"""The world-model node's subscriptions: cheap callbacks that check headers and keep the newest.

A mixin of ``WorldModelRuntime`` (``world_model_runtime.py``): each callback validates one
message (typed ``InputError`` with a counted reason), watches its topic's stamps (out of order
rejected, a time reset clears history) and stores it under the runtime's lock. Nothing here
waits on inference: the worker (``world_model_cycle.py``) takes the newest frame when it is free.
"""

from __future__ import annotations

import functools
import time

import numpy as np
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CompressedImage, Image, LaserScan
from std_msgs.msg import Bool

from world_model_ros.core.live.input_checks import (
    InputError,
    require_frame_id,
)
from world_model_ros.core.live.sync import (
    StampOrder,
)
from world_model_ros.msg import WorldModelPrediction
from world_model_ros.nodes import conversions as conv
from world_model_ros.nodes.scan_conversion import laser_scan
from world_model_ros.nodes.world_model_cycle import Frame, HeldCommand


def _never_raises(callback):
    """A bug in a check must not take the node down with the message that found it (an
    exception in a callback ends rclpy's spin): counted as an internal error, logged."""

    @functools.wraps(callback)
    def guarded(self, msg) -> None:
        try:
            callback(self, msg)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            with self._lock:
                self._counts["internal_errors"] += 1
            self.node.get_logger().error(
                f"{callback.__name__} failed: {type(exc).__name__}: {exc}",
                throttle_duration_sec=5.0,
            )

    return guarded


class TwinInputs:
    """Subscription callbacks and the bookkeeping of rejected input (mixin)."""

    def _reject(self, topic: str, reason: str, detail: str) -> None:
        """A message that cannot be used: counted per topic and reason, warned about
        (throttled)."""
        with self._lock:
            self._rejected.add(topic, reason)
        self._warn(
            ("rejected", topic, reason), f"rejected message on '{topic}' ({reason}): {detail}"
        )

    def _skip(self, reason: str, detail: str) -> None:
        """A valid frame the node could not predict on (stale, no odometry at its stamp)."""
        topic = self._camera_sub.topic_name
        with self._lock:
            self._skipped.add(topic, reason)
        self._warn(("skipped", reason), f"frame on '{topic}' skipped ({reason}): {detail}")

    def _check_stamp(self, source: str, topic: str, stamp_s: float) -> bool:
        """False when the stamp is rejected (duplicated, a little backwards, or a lone message
        from another timeline: core/live/sync.py StampMonitor); a confirmed new timeline resets
        history."""
        now_s = self._now_s()
        with self._lock:
            monitor = self._stamps[source]
            newest_s = monitor.last_s
            order = monitor.check(stamp_s, now_s)
        if order is StampOrder.RESET:
            self._reset_history(f"stamps on '{topic}' moved to a new timeline at {stamp_s:.3f} s")
            return True
        if order is StampOrder.OK:
            return True
        if order is StampOrder.OUTLIER:
            cfg = self.config
            reason, why = (
                "stamp_outlier",
                (
                    f"off the current timeline (newest {newest_s:.3f} s, node clock "
                    f"{now_s:.3f} s; time_reset_threshold_s={cfg.time_reset_threshold_s:g}): a "
                    f"reset needs {cfg.time_reset_confirm_messages} consecutive messages or "
                    "the clock"
                ),
            )
        elif order is StampOrder.DUPLICATE:
            reason, why = "duplicate", "the same stamp as the previous message's"
        else:
            reason, why = "stamp_backwards", "older than the previous message's"
        self._reject(topic, reason, f"stamp {stamp_s:.6f} s is {why}")
        return False

    def _reset_history(self, why: str) -> None:
        """Time went backwards (simulation reset): forget everything tied to the old timeline."""
        with self._lock:
            self._odom.clear()
            for monitor in self._stamps.values():
                monitor.clear()
            self._command = None
            self._commands.clear()
            self._scans.clear()
            self._plan = None
            self._pending = None
            self._shadow_job = None
            self._latency.clear_windows()
            self._shadow_latency.clear_windows()
            for tracker in self._live.values():
                tracker.reset()
            self._counts["time_resets"] += 1
        self._warn(
            ("time_reset",),
            f"time reset ({why}): cleared odometry, command, plan and "
            f"latency history (simulation restart?)",
        )

    # --- subscriptions: cheap, never wait on inference -----------------------------------------

    @_never_raises
    def _on_camera(self, msg: Image | CompressedImage) -> None:
        topic = self._camera_sub.topic_name
        try:
            require_frame_id(msg.header.frame_id)
        except InputError as exc:
            self._reject(topic, exc.reason, exc.detail)
            return
        stamp_s = conv.time_to_s(msg.header.stamp)
        if not self._check_stamp("camera", topic, stamp_s):
            return
        with self._wake:
            self._last_frame_monotonic = time.monotonic()
            if not self.active:
                return  # a configured but inactive lifecycle node: no predictions
            self._counts["frames_received"] += 1
            if self._pending is not None:
                self._counts["frames_dropped"] += 1  # replaced before the worker got to it
            self._pending = Frame(msg, stamp_s)
            self._wake.notify()

    @_never_raises
    def _on_odom(self, msg: Odometry) -> None:
        topic = self._odom_sub.topic_name
        try:
            sample = conv.odometry_to_sample(msg, self.config.input_bounds)
        except InputError as exc:
            self._reject(topic, exc.reason, exc.detail)
            return
        if not self._check_stamp("odom", topic, sample.stamp_s):
            return
        reset = None
        with self._lock:
            last = self._odom.latest
            if last is not None:
                jump_m = float(np.hypot(*(sample.pose_xyyaw[:2] - last.pose_xyyaw[:2])))
                if sample.frame_id != last.frame_id:
                    reset = f"odometry frame changed from '{last.frame_id}' to '{sample.frame_id}'"
                elif jump_m > self.config.odom_jump_m and sample.stamp_s - last.stamp_s < 1.0:
                    reset = (
                        f"pose jumped {jump_m:.2f} m in {sample.stamp_s - last.stamp_s:.3f} s "
                        f"(odom_jump_m={self.config.odom_jump_m:g})"
                    )
            if reset is not None:
                self._odom.clear()
                for tracker in self._live.values():
                    tracker.reset()
                self._counts["odom_resets"] += 1
            self._odom.add(sample)
            self._counts["odom_received"] += 1
        if reset is not None:
            self._warn(
                ("odom_reset",),
                f"odometry reset on '{topic}': {reset}; cleared odometry history "
                f"and pending live-error predictions",
            )

    @_never_raises
    def _on_cmd_vel(self, msg: Twist | TwistStamped) -> None:
        topic = self._cmd_sub.topic_name
        try:
            twist = msg.twist if isinstance(msg, TwistStamped) else msg
            vw = conv.twist_to_vw(twist, self.config.input_bounds)
        except InputError as exc:
            self._reject(topic, exc.reason, exc.detail)
            return
        with self._lock:
            self._command = HeldCommand(vw, self._now_s())
            self._commands.add(self._command.received_s, vw)  # what the robot was told, when
            self._counts["cmd_vel_received"] += 1

    @_never_raises
    def _on_scan(self, msg: LaserScan) -> None:
        """The newest LaserScan, for an encoder that takes one (used at the frames' stamps)."""
        topic = self._scan_sub.topic_name
        try:
            scan = laser_scan(msg)
        except InputError as exc:
            self._reject(topic, exc.reason, exc.detail)
            return
        if not self._check_stamp("scan", topic, scan[0]):
            return  # rejected and counted (a lone stamp off the timeline wipes nothing)
        with self._lock:  # newer than the newest: the monitor let it through
            self._scans.add(scan)
            self._counts["scan_received"] += 1

    @_never_raises
    def _on_plan(self, msg: WorldModelPrediction) -> None:
        try:
            plan = conv.prediction_to_plan(msg, self.config.input_bounds)
        except InputError as exc:
            self._reject(self._plan_sub.topic_name, exc.reason, exc.detail)
            return
        with self._lock:
            self._plan = plan
            self._counts["plan_received"] += 1

    @_never_raises
    def _on_contact(self, msg: Bool) -> None:
        """Contact ground truth (no header: stamped with the node clock on receipt)."""
        now_s = self._now_s()
        with self._lock:
            for tracker in self._live.values():
                tracker.add_contact(now_s, bool(msg.data))
            self._counts["contact_received"] += 1
