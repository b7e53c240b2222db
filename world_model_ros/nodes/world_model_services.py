"""The world-model node's services and reports: reload the checkpoint, publish diagnostics.

A mixin of ``WorldModelRuntime`` (``world_model_runtime.py``). ``~/reload_model`` loads the
configured checkpoint(s) again on the executor thread while the worker keeps predicting with
the old model, and swaps them in only when the load worked. Diagnostics and live error are
published on the steady clock, so they keep coming while a simulation is paused or reset.
"""

from __future__ import annotations

import dataclasses

import torch
from diagnostic_msgs.msg import DiagnosticArray
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from world_model_ros.nodes.model_loading import (
    LoadedModel,
    ModelLoadError,
    checkpoint_sha,
    load_model,
)
from world_model_ros.nodes.world_model_diagnostics import (
    DiagnosticsSnapshot,
    diagnostic_statuses,
    live_error_report,
)


class TwinServices:
    """Reload, the CPU fallback after CUDA ran out of memory, and diagnostics (mixin)."""

    def _on_out_of_memory(self, primary: LoadedModel, exc: BaseException) -> None:
        """CUDA ran out of memory mid-run: move to the CPU when configured, else say what to do."""
        log = self.node.get_logger()
        with self._lock:
            self._counts["internal_errors"] += 1
        if self.config.device_fallback != "cpu":
            log.error(
                f"CUDA out of memory during inference on {primary.model.device} ({exc}); frames "
                "are failing. "
                f"Free GPU memory or set device_fallback: cpu",
                throttle_duration_sec=5.0,
            )
            return
        log.error(
            f"CUDA out of memory during inference ({exc}); reloading on the CPU (device_fallback: "
            "cpu)"
        )
        torch.cuda.empty_cache()
        cpu_config = dataclasses.replace(self.config, device="cpu")
        with self._lock:
            horizon = self.horizon
        try:
            loaded = load_model(cpu_config, horizon=horizon, log=log.error)
        except ModelLoadError as load_exc:
            log.error(f"CPU fallback failed: {load_exc}")
            return
        loaded.fallback = (
            f"CUDA out of memory on {primary.model.device} at run time; fell back to the CPU "
            f"(device_fallback: cpu)"
        )
        with self._lock:
            self.primary = loaded

    # --- reload --------------------------------------------------------------------------------

    def _on_reload(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """Load the configured checkpoint(s) again and swap them in; on failure keep the old
        ones."""
        cfg = self.config
        log = self.node.get_logger()
        try:
            with self._lock:
                horizon = self.horizon
            primary = load_model(cfg, horizon=horizon, log=log.error)
            shadow = (
                load_model(
                    cfg, cfg.shadow_model, cfg.shadow_checkpoint, horizon=horizon, log=log.error
                )
                if cfg.shadow_model
                else None
            )
        except Exception as exc:  # noqa: BLE001 - any failure keeps the running model
            with self._lock:
                self._counts["reload_failures"] += 1
                self._last_reload = f"failed: {exc}"
            response.success = False
            response.message = f"reload failed, still running {self.primary.description}: {exc}"
            log.error(response.message)
            return response
        with self._lock:
            self.primary, self.shadow = primary, (shadow if self.shadow is not None else None)
            self.dt_s = float(primary.model.dt_s)
            for tracker in self._live.values():
                tracker.reset()  # old predictions belong to the old weights
            self._live["primary"].take_completed()  # scored, but by the old weights
            self._domain.reset()
            self._counts["reloads"] += 1
        shas = [
            f"{name} {loaded.model.model_id}"
            + (f" sha256 {sha}" if (sha := checkpoint_sha(kind, ckpt)) else "")
            for name, loaded, kind, ckpt in (
                ("primary", primary, cfg.model, cfg.checkpoint),
                ("shadow", shadow, cfg.shadow_model, cfg.shadow_checkpoint),
            )
            if loaded is not None
        ]
        response.success = True
        response.message = "reloaded " + "; ".join(shas)
        with self._lock:
            self._last_reload = response.message
        log.info(response.message)
        return response

    # --- diagnostics and live error --------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        cfg = self.config
        graph_problems = tuple(self._cmd_watch.check())  # a graph query: not under the lock
        with self._lock:
            self._score_live_errors()
            domain = self._domain_verdict
            frame_id = self._odom.latest.frame_id if self._odom.latest is not None else ""
            primary, shadow, horizon = self.primary, self.shadow, self.horizon
            snapshot = DiagnosticsSnapshot(
                summary=self._latency.summary(),
                shadow_summary=self._shadow_latency.summary(),
                counts=dict(self._counts),
                sources=dict(self._source_counts),
                deadline_misses=self._latency.deadline_misses,
                cycles=self._latency.cycles,
                rejected=dict(self._rejected.counts),
                skipped=dict(self._skipped.counts),
                rejected_by_reason=self._rejected.by_reason(),
                skipped_by_reason=self._skipped.by_reason(),
                primary=primary,
                shadow=shadow,
                horizon=horizon,
                last_frame_monotonic=self._last_frame_monotonic,
                last_reload=self._last_reload,
                last_invalid_output=self._last_invalid_output,
                graph_problems=graph_problems,
            )
            stamp = self.node.get_clock().now().to_msg()
            live_msgs = {
                "primary": live_error_report(
                    "primary", self._live["primary"], primary, horizon, stamp
                )
            }
            if shadow is not None:
                live_msgs["shadow"] = live_error_report(
                    "shadow", self._live["shadow"], shadow, horizon, stamp
                )
        statuses, self._last_report = diagnostic_statuses(
            self.node.get_name(),
            cfg,
            snapshot,
            live_msgs,
            dt_s=self.dt_s,
            active=self.active,
            camera_topic=self._camera_sub.topic_name,
            last_report=self._last_report,
        )
        statuses.append(self._domain_status(self.node.get_name(), domain))
        self._diagnostics_pub.publish(DiagnosticArray(header=Header(stamp=stamp), status=statuses))
        self._publish_domain(domain, frame_id)
        self._live_pub.publish(live_msgs["primary"][0])
        if "shadow" in live_msgs and self._shadow_live_pub is not None:
            self._shadow_live_pub.publish(live_msgs["shadow"][0])
