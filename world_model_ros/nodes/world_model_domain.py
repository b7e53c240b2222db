"""The world-model node's domain check: is its learned model still a twin of this robot?

A mixin of ``WorldModelRuntime`` (``world_model_runtime.py``). The decision is
``core/live/domain.py``; this module wires it: predictions the live-error tracker has fully
scored (learned model and kinematic baseline on the same inputs, with the learned 95 %
interval) go into the check, and the verdict goes out on ``world_model/domain``
(world_model_ros/DomainStatus, latched: reliable + transient local, depth 1, so a planner
started later gets the current verdict at once) as soon as it changes and every
``diagnostics_period_s``, and on ``diagnostics`` (status ``<node>: domain``, ERROR while out of
domain). A change is logged once: an error going out, info coming back.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header

from world_model_ros.core.live.domain import CommandLog, DomainCheck, DomainVerdict
from world_model_ros.core.live.live_error import TrackedPrediction
from world_model_ros.msg import DomainStatus

DOMAIN_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


class TwinDomainCheck:
    """The domain check's wiring (mixin): feed it, publish its verdict."""

    def _domain_configure(self) -> None:
        """Create the check and the latched publisher (at configure)."""
        self._domain = DomainCheck(self.config.domain)
        self._commands = CommandLog()  # cmd_vel as received (world_model_inputs.py)
        self._domain_pub = self.node.create_publisher(
            DomainStatus, "world_model/domain", DOMAIN_QOS
        )
        self._domain_verdict = self._fixed_verdict() or self._domain.verdict()
        self._domain_published: bool | None = None  # in_domain last published
        self._domain_publish_lock = threading.Lock()  # the worker and the diagnostics timer

    def _fixed_verdict(self) -> DomainVerdict | None:
        """The verdict when there is nothing to judge (caller holds the lock, or configure)."""
        if self.primary.model.model_id == "kinematic":
            return DomainVerdict(
                True,
                "the node runs the kinematic baseline itself (model: kinematic): nothing to judge",
            )
        if not self.config.domain.enabled:
            return DomainVerdict(True, "domain check off (domain.enabled: false)")
        return None

    def _domain_jobs(self) -> list[tuple[TrackedPrediction, np.ndarray | None]]:
        """Predictions scored since the last call, each with the commands actually sent during
        it (None when not every step had a fresh one). Caller holds the lock."""
        completed = self._live["primary"].take_completed()
        if self._fixed_verdict() is not None:
            return []
        timeout_s = self.config.cmd_timeout_s
        return [
            (p, self._commands.executed(p.stamp_s, p.dt_s, p.poses_h3.shape[0], timeout_s))
            for p in completed
        ]

    def _judge_domain(self, engine, jobs, frame_id: str) -> None:
        """Worker thread, lock not held: roll the learned model out again under the commands
        actually sent (same latent, same engine: one short rollout per judged prediction), hand
        the results to the check, and publish the verdict at once when it changed."""
        judged = []
        for prediction, executed_h2 in jobs:
            made_by, latent = prediction.context
            if executed_h2 is None or made_by is not engine or len(executed_h2) != engine.horizon:
                judged.append((prediction,))  # judged under the actions it assumed
                continue
            rollout = engine.rollout(latent, engine.set_actions(executed_h2.astype(np.float32)))
            judged.append(
                (prediction, executed_h2, rollout["poses_bh3"][0], rollout["position_var_bh"][0])
            )
        with self._lock:
            for args in judged:
                self._domain.add(*args)
            self._domain_verdict = verdict = self._fixed_verdict() or self._domain.verdict()
            changed = verdict.in_domain != self._domain_published
        if changed:
            self._publish_domain(verdict, frame_id)

    def _publish_domain(self, verdict: DomainVerdict, frame_id: str = "") -> None:
        """Publish ``verdict`` on world_model/domain; log it when in/out changed."""
        msg = DomainStatus(
            header=Header(stamp=self.node.get_clock().now().to_msg(), frame_id=frame_id),
            in_domain=verdict.in_domain,
            reason=verdict.reason,
            model_id=self.primary.model.model_id,
            learned_error_m=float(verdict.learned_error_m),
            baseline_error_m=float(verdict.baseline_error_m),
            coverage_95=float(verdict.coverage_95),
            samples=verdict.samples,
        )
        with self._domain_publish_lock:
            if verdict.in_domain != self._domain_published:
                # One call per severity: rclpy refuses a call site whose severity changes.
                if not verdict.in_domain:
                    self.node.get_logger().error(f"domain: {verdict.reason}")
                elif self._domain_published is not None:
                    self.node.get_logger().info(f"domain: {verdict.reason}")
                self._domain_published = verdict.in_domain
            self._domain_pub.publish(msg)

    def _domain_status(self, node_name: str, verdict: DomainVerdict) -> DiagnosticStatus:
        """The ``<node>: domain`` diagnostics status: ERROR while out of domain."""
        ratio = (
            verdict.learned_error_m / verdict.baseline_error_m
            if verdict.baseline_error_m > 0
            else math.nan
        )
        values = {
            "in_domain": str(verdict.in_domain).lower(),
            "judged": str(verdict.judged).lower(),
            "learned_error_m": f"{verdict.learned_error_m:.4f}",
            "baseline_error_m": f"{verdict.baseline_error_m:.4f}",
            "error_ratio": f"{ratio:.3f}",
            "coverage_95": f"{verdict.coverage_95:.3f}",
            "samples": str(verdict.samples),
            "changes": str(verdict.changes),
            "not_judged": str(self._domain.ignored),
            "judged_on_commands_sent": str(self._domain.on_commands_sent),
            "judged_on_assumed_actions": str(self._domain.on_assumed_actions),
        }
        return DiagnosticStatus(
            level=DiagnosticStatus.OK if verdict.in_domain else DiagnosticStatus.ERROR,
            name=f"{node_name}: domain",
            message=verdict.reason,
            hardware_id=self.primary.model.model_id,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
