"""The world-model node's prediction cycle, on its own worker thread.

A mixin of ``WorldModelRuntime`` (``world_model_runtime.py``). Each cycle takes the newest
camera frame, pairs it with odometry at the frame's stamp, publishes the twin's state (the
latent the planner plans from), chooses the actions to predict under (a fresh planner plan,
else the last command held, else the measured twist held), rolls the model out and publishes
the prediction, a path and rviz markers stamped with the frame's stamp (publishing:
``world_model_outputs.py``). The shadow model runs the same on its own worker
(``world_model_shadow.py``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sensor_msgs.msg import CompressedImage, Image

from world_model_ros.core.data.images import ImageError
from world_model_ros.core.data.scan_input import SCAN_MAX_AGE_S
from world_model_ros.core.live.latency import StageTimer
from world_model_ros.core.live.motion_history import motion_history
from world_model_ros.core.live.output_checks import prediction_problem, state_problem
from world_model_ros.core.live.scan_log import SCAN_GRACE_FRAMES
from world_model_ros.core.live.sync import (
    OdomSample,
    Plan,
    SyncError,
    align_plan,
)
from world_model_ros.core.model.contract import KnowsItsRobot, LatentState, Observation
from world_model_ros.nodes import conversions as conv
from world_model_ros.nodes.model_loading import (
    LoadedModel,
)
from world_model_ros.nodes.world_model_shadow import ShadowJob


@dataclass
class Frame:
    """The newest camera message waiting for the worker (not decoded yet: decoding is a stage)."""

    msg: Image | CompressedImage
    stamp_s: float


@dataclass
class HeldCommand:
    vw: np.ndarray
    received_s: float  # node clock


class TwinPredictionCycle:
    """The inference worker and the shadow worker (mixin)."""

    # --- the prediction cycle (worker thread) --------------------------------------------------

    def _set_worker_priority(self) -> None:
        """SCHED_FIFO for the calling (inference) thread when configured: other processes on a busy
        robot computer then cannot delay a cycle that has started. Refused loudly, never
        silently."""
        priority = self.config.worker_priority
        if priority <= 0:
            return
        try:
            os.sched_setscheduler(
                0, os.SCHED_FIFO, os.sched_param(priority)
            )  # 0: this thread (Linux)
        except (AttributeError, OSError) as exc:
            self.node.get_logger().warning(
                f"worker_priority {priority}: cannot use SCHED_FIFO ({exc}); running at "
                f"normal priority (grant CAP_SYS_NICE or an rtprio limit)"
            )
            return
        self.node.get_logger().info(f"inference thread runs SCHED_FIFO priority {priority}")

    def _take(self, wake: threading.Condition, slot: str):
        """Wait (holding ``wake``) until the one-deep ``slot`` holds a job, empty it and return
        the job; None when the runtime is stopping. Newer jobs overwrite older ones in the
        slot: a late prediction is worth less than the next frame's."""
        wake.wait_for(lambda: getattr(self, slot) is not None or self._stopping)
        if self._stopping:
            return None
        job = getattr(self, slot)
        setattr(self, slot, None)
        return job

    @staticmethod
    def _predict(
        engine,
        observation: Observation,
        actions_h2: np.ndarray,
        timer: StageTimer,
        on_encoded: Callable[[LatentState], None] | None = None,
    ) -> tuple[LatentState, dict]:
        """Encode one observation and roll the model out under ``actions_h2``, timing each
        stage; ``on_encoded(latent)`` runs between the two (the twin's state goes out before
        the rollout, so the planner waits for the encoder only). Returns (latent, rollout)."""
        with timer.stage("preprocess"):
            actions_1h2 = engine.set_actions(actions_h2)
        with timer.stage("encode"):
            latent = engine.encode(observation)
        if on_encoded is not None:
            with timer.stage("state"):
                on_encoded(latent)
        with timer.stage("rollout"):
            return latent, engine.rollout(latent, actions_1h2)

    def _worker_loop(self) -> None:
        self._set_worker_priority()
        while True:
            with self._wake:
                frame = self._take(self._wake, "_pending")
                if frame is None:
                    return
                primary, horizon = self.primary, self.horizon
            try:
                self._cycle(frame, primary, horizon)
            except torch.cuda.OutOfMemoryError as exc:
                self._on_out_of_memory(primary, exc)
            except (
                Exception
            ) as exc:  # a bug must not kill the node's only worker; it is counted and logged
                with self._lock:
                    self._counts["internal_errors"] += 1
                self.node.get_logger().error(
                    f"prediction cycle failed: {type(exc).__name__}: {exc}",
                    throttle_duration_sec=5.0,
                )

    def _cycle(self, frame: Frame, primary: LoadedModel, horizon: int) -> None:
        cfg = self.config
        topic = self._camera_sub.topic_name
        timer = StageTimer()
        now_s = self._now_s()
        engine = primary.engine
        dt_s = float(primary.model.dt_s)

        with timer.stage("convert"):
            try:
                if isinstance(frame.msg, CompressedImage):
                    rgb_hw3 = conv.compressed_to_rgb(frame.msg, cfg.max_image_pixels)
                else:
                    rgb_hw3 = conv.image_to_rgb(frame.msg, cfg.max_image_pixels)
            except ImageError as exc:
                self._reject(topic, exc.reason, str(exc).split(": ", 1)[-1])
                return
            mismatch = self._camera_check.check(
                primary.model.model_id,
                primary.model.camera if isinstance(primary.model, KnowsItsRobot) else None,
                rgb_hw3.shape[1],
                rgb_hw3.shape[0],
                getattr(frame.msg, "encoding", None) or getattr(frame.msg, "format", None),
            )
            if mismatch:
                self.node.get_logger().warning(f"camera: {mismatch}")
            age_s = now_s - frame.stamp_s
            if age_s > cfg.max_input_age_s:
                self._skip(
                    "stale",
                    f"frame is {age_s:.3f} s old (max_input_age_s={cfg.max_input_age_s:g})",
                )
                return
            with self._lock:
                try:
                    odom = self._odom.lookup(frame.stamp_s, cfg.sync_slop_s)
                except SyncError as exc:
                    error = exc
                else:
                    error = None
                    # the steps before the frame, for an encoder that takes them (the shadow
                    # model's too: both encode this observation)
                    steps = max(
                        primary.inputs.history_steps,
                        self.shadow.inputs.history_steps if self.shadow is not None else 0,
                    )
                    history = (
                        motion_history(
                            frame.stamp_s,
                            steps,
                            dt_s,
                            self._commands,
                            self._odom,
                            cfg.cmd_timeout_s,
                            odom.twist_vw,
                        )
                        if steps
                        else None
                    )
                    scan = self._scan_input(primary, frame.stamp_s, odom.pose_xyyaw)
                command, plan = self._command, self._plan
            if error is not None:
                detail = (
                    f"no odometry received on '{self._odom_sub.topic_name}'"
                    if error.reason == "no_odometry"
                    else str(error).split(": ", 1)[-1]
                )
                self._skip(error.reason, detail)
                return

        if history is not None and not history[:, :2].any() and np.abs(history[:, 2]).min() > 0.05:
            # the robot moved the whole history and no command was heard: the encoder reads
            # "told nothing" (training's rule), which a robot that moves is not
            self._warn(
                ("history_without_commands",),
                f"the model takes the commands of the last {len(history)} steps, and none was "
                f"heard on '{self._cmd_sub.topic_name}' while the robot moved: check that "
                "topic's remapping and type (cmd_vel_stamped)",
            )
        with timer.stage("preprocess"):
            actions_h2, source = self._select_actions(
                frame.stamp_s, now_s, odom, command, plan, horizon, dt_s
            )
            observation = Observation(
                frame.stamp_s, rgb_hw3, odom.pose_xyyaw, odom.twist_vw, history, scan
            )
        state = None
        if self._state_pub is not None and self.active:
            stamp, frame_id, model = frame.msg.header.stamp, odom.frame_id, primary.model

            def state(latent: LatentState) -> None:
                msg = self._state_message(stamp, frame_id, model, latent)
                problem = state_problem(
                    (msg.pose.position.x, msg.pose.position.y, latent.pose_3[2].item()),
                    (msg.twist.linear.x, msg.twist.angular.z),
                    None if latent.features is None else np.asarray(msg.latent),
                    cfg.input_bounds,
                )
                if problem:
                    self._withhold("world_model/state", problem)
                else:
                    self._state_pub.publish(msg)

        latent, rollout_np = self._predict(engine, observation, actions_h2, timer, state)
        problem = prediction_problem(rollout_np, cfg.input_bounds)
        if problem:
            self._withhold("world_model/prediction", problem)
            return
        with timer.stage("publish"):
            prediction, latency_s = self._publish_prediction(
                frame.msg.header.stamp,
                frame.stamp_s,
                odom,
                primary.model.model_id,
                dt_s,
                rollout_np,
                actions_h2,
                source,
            )
        with self._lock:
            self._counts["frames_processed"] += 1
            self._source_counts[source] += 1
            missed = self._latency.record(1e3 * latency_s, timer.ms)
            self._live["primary"].add_prediction(
                frame.stamp_s,
                dt_s,
                odom.frame_id,
                rollout_np["poses_bh3"][0],
                rollout_np["collision_prob_bh"][0],
                # for the domain check: the baseline from the same pose, the interval, and the
                # latent to roll out again under the commands actually sent
                start_pose_3=odom.pose_xyyaw,
                actions_h2=actions_h2,
                position_var_h=rollout_np["position_var_bh"][0],
                context=(engine, latent),
            )
            if self.shadow is not None and self.active:
                if self._shadow_job is not None:
                    self._counts["shadow_dropped"] += 1
                self._shadow_job = ShadowJob(
                    frame.msg.header.stamp,
                    frame.stamp_s,
                    odom.frame_id,
                    observation,
                    actions_h2,
                    source,
                )
                self._shadow_wake.notify()
            self._score_live_errors()
            domain_jobs = self._domain_jobs()
        self._judge_domain(engine, domain_jobs, odom.frame_id)
        if missed:
            self._warn(
                ("deadline",),
                f"deadline missed: latency {1e3 * latency_s:.1f} ms > budget_ms "
                f"{cfg.budget_ms:g} (stages: "
                + ", ".join(f"{k} {v:.1f} ms" for k, v in timer.ms.items())
                + ")",
            )

    def _scan_input(
        self, primary: LoadedModel, stamp_s: float, pose_3: np.ndarray
    ) -> np.ndarray | None:
        """The LaserScan input at a frame for a model that takes one (core/data/scan_input.py):
        the newest scan at most SCAN_MAX_AGE_S before the frame, its returns moved to the
        frame's pose by the odometry; None (read as "no scan") without one (caller holds the
        lock)."""
        inputs = primary.inputs
        if not inputs.scan_sectors:
            return None
        scan = self._scans.input_at(stamp_s, pose_3, self._odom, self.config.sync_slop_s, inputs)
        if scan is None:
            newest = self._scans.newest_s
            if newest is None and self._counts["frames_processed"] < SCAN_GRACE_FRAMES:
                return None  # starting up: the LiDAR's first scan may follow the first frames
            was = "" if newest is None else f" (newest {stamp_s - newest:+.2f} s)"
            self._warn(
                ("scan_missing",),
                f"the model takes a LaserScan on '{self._scan_sub.topic_name}' and none is "
                f"within {SCAN_MAX_AGE_S:g} s before the frame{was}: read as no scan",
            )
        return scan

    def _score_live_errors(self) -> None:
        """Score pending predictions against the odometry received so far (caller holds the
        lock)."""
        for tracker in self._live.values():
            tracker.score(self._odom, self.config.sync_slop_s)

    def _select_actions(
        self,
        stamp_s: float,
        now_s: float,
        odom: OdomSample,
        command: HeldCommand | None,
        plan: Plan | None,
        horizon: int,
        dt_s: float,
    ) -> tuple[np.ndarray, str]:
        """[H, 2] actions and their source: a fresh plan, else the fresh command held, else the
        measured twist held."""
        cfg = self.config
        if plan is not None and abs(stamp_s - plan.stamp_s) <= cfg.plan_timeout_s:
            return align_plan(plan, stamp_s, horizon, dt_s), "plan"
        # 0 <= age: a command received "in the future" belongs to a timeline the clock has left.
        if command is not None and 0.0 <= now_s - command.received_s <= cfg.cmd_timeout_s:
            return np.repeat(command.vw[None, :], horizon, axis=0), "cmd_vel"
        return np.repeat(odom.twist_vw[None, :], horizon, axis=0), "odometry"
