"""The world-model node's reports: the ``diagnostics`` statuses (prediction health, live error)
and the ``LiveError`` messages, built from a snapshot of the runtime's counters.

The runtime copies what a report needs under its lock (``DiagnosticsSnapshot``) and builds the
messages here without it, so the callbacks and the worker wait only for the copy. Plain
functions of their inputs: the wording users see on ``diagnostics`` lives in one place.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from std_msgs.msg import Header

from world_model_ros.core.live.live_error import LiveErrorTracker
from world_model_ros.msg import LiveError
from world_model_ros.nodes.model_loading import LoadedModel
from world_model_ros.nodes.world_model_config import WorldModelNodeConfig


@dataclass(frozen=True)
class DiagnosticsSnapshot:
    """The runtime's state for one report, copied under its lock."""

    summary: dict[str, float]  # primary latency / stage timing
    shadow_summary: dict[str, float]
    counts: dict[str, int]
    sources: dict[str, int]  # cycles per action source
    deadline_misses: int
    cycles: int
    rejected: dict[tuple[str, str], int]  # per (topic, reason)
    skipped: dict[tuple[str, str], int]
    rejected_by_reason: dict[str, int]
    skipped_by_reason: dict[str, int]
    primary: LoadedModel
    shadow: LoadedModel | None
    horizon: int
    last_frame_monotonic: float | None
    last_reload: str
    last_invalid_output: str = ""  # the newest output withheld by the last check, and why
    graph_problems: tuple[str, ...] = ()  # topic_types.TypeMismatchWatch: peers of another type


def live_error_report(
    name: str, tracker: LiveErrorTracker, loaded: LoadedModel, horizon: int, stamp
) -> tuple[LiveError, dict[str, str]]:
    """The ``LiveError`` message of one model and its diagnostics values (first, middle, last
    step)."""
    report = tracker.report(horizon)
    msg = LiveError(
        header=Header(stamp=stamp, frame_id=report.frame_id),
        model_id=loaded.model.model_id,
        dt=float(loaded.model.dt_s),
        position_error_m=[float(v) for v in report.position_error_m],
        heading_error_rad=[float(v) for v in report.heading_error_rad],
        samples=[int(v) for v in report.samples],
        contradicted_share=float(report.contradicted_share),
        contact_samples=report.contact_samples,
    )
    values = {
        f"{name}.predictions_scored": str(report.predictions_scored),
        f"{name}.contradicted_share": f"{report.contradicted_share:.3f}",
        f"{name}.contact_samples": str(report.contact_samples),
    }
    for index in (0, horizon // 2, horizon - 1):
        values[f"{name}.position_error_m.step{index + 1}"] = (
            f"{report.position_error_m[index]:.4f}"
        )
        values[f"{name}.heading_error_rad.step{index + 1}"] = (
            f"{report.heading_error_rad[index]:.4f}"
        )
    return msg, values


def diagnostic_statuses(
    node_name: str,
    cfg: WorldModelNodeConfig,
    snap: DiagnosticsSnapshot,
    live: dict[str, tuple[LiveError, dict[str, str]]],
    *,
    dt_s: float,
    active: bool,
    camera_topic: str,
    last_report: dict[str, int],
) -> tuple[list[DiagnosticStatus], dict[str, int]]:
    """The two statuses (prediction, live error) and the totals the next report counts "new" from.

    ERROR when an output was withheld by the last check (non-finite or implausible) since
    ``last_report``; WARN when anything else went wrong since then (deadline misses, rejected
    or skipped inputs) or persists (a device fallback, internal errors, a silent camera while
    active).
    """
    summary, counts, primary, shadow, horizon = (
        snap.summary,
        snap.counts,
        snap.primary,
        snap.shadow,
        snap.horizon,
    )
    misses, rejected, skipped = snap.deadline_misses, snap.rejected, snap.skipped
    values: dict[str, str] = {
        "model_id": primary.model.model_id,
        "device": str(primary.model.device),
        "horizon": str(horizon),
        "dt_s": f"{dt_s:g}",
        "budget_ms": f"{cfg.budget_ms:g}",
        "deadline_misses": str(misses),
        "cycles": str(snap.cycles),
        "state": "active" if active else "inactive",
        "backend": primary.backend,
        "precision": cfg.precision,
        "device_fallback": primary.fallback or "none",
        "last_reload": snap.last_reload,
    }
    values.update(
        {
            key: (f"{value:.2f}" if math.isfinite(value) else "nan")
            for key, value in summary.items()
        }
    )
    values.update({key: str(value) for key, value in counts.items()})
    values["frames_rejected"] = str(
        sum(rejected.get(k, 0) for k in rejected if k[0] == camera_topic)
    )
    values["frames_skipped"] = str(sum(skipped.values()))
    values.update(
        {f"frames_skipped.{reason}": str(n) for reason, n in snap.skipped_by_reason.items()}
    )
    values.update({f"rejected.{reason}": str(n) for reason, n in snap.rejected_by_reason.items()})
    values.update(
        {f"rejected.{topic}.{reason}": str(n) for (topic, reason), n in rejected.items()}
    )
    values.update({f"action_source.{source}": str(n) for source, n in snap.sources.items()})
    last_frame = snap.last_frame_monotonic
    silent_s = None if last_frame is None else time.monotonic() - last_frame
    values["camera_silent_s"] = "never received" if silent_s is None else f"{silent_s:.2f}"

    values["last_invalid_output"] = snap.last_invalid_output or "none"
    report = {
        "deadline_misses": misses,
        "rejected": sum(rejected.values()),
        "skipped": sum(skipped.values()),
        "processed": counts["frames_processed"],
        "invalid_outputs": counts.get("invalid_outputs", 0),
    }
    new = {key: report[key] - last_report.get(key, 0) for key in report}
    problems = []
    if new["invalid_outputs"]:
        problems.append(
            f"{new['invalid_outputs']} outputs withheld as non-finite or implausible "
            f"(newest: {snap.last_invalid_output})"
        )
    if primary.fallback:
        problems.append(primary.fallback)
    if new["deadline_misses"]:
        problems.append(f"{new['deadline_misses']} deadline misses")
    if new["rejected"]:
        problems.append(f"{new['rejected']} inputs rejected")
    if new["skipped"]:
        problems.append(f"{new['skipped']} frames skipped")
    if counts["internal_errors"]:
        problems.append(f"{counts['internal_errors']} internal errors")
    problems += list(snap.graph_problems)
    if (
        active
        and cfg.camera_timeout_s > 0
        and silent_s is not None
        and silent_s > cfg.camera_timeout_s
    ):
        problems.append(f"no camera frame for {silent_s:.1f} s")
    if problems:
        level = DiagnosticStatus.ERROR if new["invalid_outputs"] else DiagnosticStatus.WARN
        message = "; ".join(problems) + " since the last report"
    elif not active:
        level, message = DiagnosticStatus.OK, "inactive (configured, not predicting)"
    elif not new["processed"]:
        level, message = DiagnosticStatus.OK, "waiting for camera frames"
    else:
        level, message = (
            DiagnosticStatus.OK,
            (
                f"{new['processed']} predictions, latency p95 "
                f"{summary['latency_p95_ms']:.1f} ms (budget {cfg.budget_ms:g} ms)"
            ),
        )
    statuses = [
        DiagnosticStatus(
            level=level,
            name=f"{node_name}: prediction",
            message=message,
            hardware_id=primary.model.model_id,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
    ]
    live_values = {}
    for _, part in live.values():
        live_values.update(part)
    if shadow is not None:
        live_values["shadow.model_id"] = shadow.model.model_id
        live_values.update(
            {
                f"shadow.{k}": (f"{v:.2f}" if math.isfinite(v) else "nan")
                for k, v in snap.shadow_summary.items()
                if k.startswith("latency")
            }
        )
    statuses.append(
        DiagnosticStatus(
            level=DiagnosticStatus.OK,
            name=f"{node_name}: live error",
            message=f"mean error per horizon step over the last {cfg.live_error_window} "
            f"scored predictions",
            hardware_id=primary.model.model_id,
            values=[KeyValue(key=k, value=v) for k, v in live_values.items()],
        )
    )
    return statuses, report
