"""The shadow model's worker: the primary's inputs, predicted by a second model at its own
pace.

A mixin of ``WorldModelRuntime`` (``world_model_runtime.py``), apart from the primary's cycle
(``world_model_cycle.py``) because it runs on its own thread and must never take the primary
down: the primary hands it a :class:`ShadowJob` (the newest one only) and goes on; the shadow
publishes on its own topic and keeps its own latency and live error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from world_model_ros.core.live.latency import StageTimer
from world_model_ros.core.live.output_checks import prediction_problem
from world_model_ros.core.live.sync import OdomSample
from world_model_ros.core.model.contract import Observation


@dataclass
class ShadowJob:
    stamp: object  # builtin_interfaces/Time of the frame
    stamp_s: float
    frame_id: str
    observation: Observation
    actions_h2: np.ndarray
    source: str


class TwinShadowCycle:
    """The shadow worker (mixin)."""

    def _shadow_loop(self) -> None:
        """The shadow model on the primary's inputs, at its own pace (the newest job only)."""
        while True:
            with self._shadow_wake:
                job = self._take(self._shadow_wake, "_shadow_job")
                if job is None:
                    return
                shadow = self.shadow
            if shadow is None:
                continue
            try:
                timer = StageTimer()
                engine = shadow.engine
                dt_s = float(shadow.model.dt_s)
                _, rollout_np = self._predict(engine, job.observation, job.actions_h2, timer)
                problem = prediction_problem(rollout_np, self.config.input_bounds)
                if problem:
                    self._withhold("world_model/shadow/prediction", problem)
                    continue
                odom = OdomSample(
                    job.stamp_s, job.observation.pose_xyyaw, job.observation.twist_vw, job.frame_id
                )
                with timer.stage("publish"):
                    _, latency_s = self._publish_prediction(
                        job.stamp,
                        job.stamp_s,
                        odom,
                        shadow.model.model_id,
                        dt_s,
                        rollout_np,
                        job.actions_h2,
                        job.source,
                        shadow=True,
                    )
                with self._lock:
                    self._counts["shadow_processed"] += 1
                    self._shadow_latency.record(1e3 * latency_s, timer.ms)
                    self._live["shadow"].add_prediction(
                        job.stamp_s,
                        dt_s,
                        job.frame_id,
                        rollout_np["poses_bh3"][0],
                        rollout_np["collision_prob_bh"][0],
                    )
            except Exception as exc:  # noqa: BLE001 - the shadow must never take the primary down
                with self._lock:
                    self._counts["shadow_errors"] += 1
                self.node.get_logger().error(
                    f"shadow cycle failed: {type(exc).__name__}: {exc}", throttle_duration_sec=5.0
                )
