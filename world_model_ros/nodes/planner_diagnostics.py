"""The planner's ``diagnostics``: where users look first when the robot does not move.

One ``DiagnosticStatus`` named ``<node>: control``, published on the steady clock (it keeps
coming while a simulation is paused): the goal's state and why it holds, control cycles and
overruns, the controller's counts (duplicated or frozen inputs, stale periods, unusable
inputs, planning errors, plans refused by the last check, time resets) and every rejected
input message per topic and reason. The level says what needs attention: ERROR when a plan
was refused as non-finite or implausible since the last report, WARN while the robot holds,
when inputs were rejected or cycles overran since then, OK otherwise. The wording lives
here; the node hands over a snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue


@dataclass(frozen=True)
class PlannerSnapshot:
    """What one report needs, copied by the node."""

    state: str  # idle, active, holding, reached, failed
    reason: str
    predictor: str
    cycles: int
    overruns: int
    controller_counts: dict[str, int]
    commands_refused: int  # SafetyGate: commands replaced by zero (limits, not finite)
    received: dict[str, int]  # messages per input
    rejected: dict[tuple[str, str], int]  # per (topic, reason)
    odom_time_resets: int
    graph_problems: tuple[str, ...] = ()  # topics.TypeMismatchWatch: peers of another type


def planner_status(
    node_name: str, snap: PlannerSnapshot, last_report: dict[str, int]
) -> tuple[DiagnosticStatus, dict[str, int]]:
    """The status and the totals the next report counts "new" from."""
    counts = snap.controller_counts
    values = {
        "state": snap.state,
        "reason": snap.reason or "none",
        "predictor": snap.predictor,
        "cycles": str(snap.cycles),
        "overruns": str(snap.overruns),
        "commands_refused": str(snap.commands_refused),
        "odom_time_resets": str(snap.odom_time_resets),
    }
    values.update({f"controller.{k}": str(v) for k, v in counts.items()})
    values.update({f"received.{k}": str(v) for k, v in snap.received.items()})
    by_reason: dict[str, int] = {}
    for (topic, reason), n in snap.rejected.items():
        values[f"rejected.{topic}.{reason}"] = str(n)
        by_reason[reason] = by_reason.get(reason, 0) + n
    values.update({f"rejected.{reason}": str(n) for reason, n in by_reason.items()})
    values["rejected"] = str(sum(by_reason.values()))
    report = {
        "rejected": sum(by_reason.values())
        + sum(counts.get(k, 0) for k in ("duplicates", "stamps_backwards", "stamp_outliers")),
        "overruns": snap.overruns,
        "invalid_plans": counts.get("invalid_plans", 0),
    }
    new = {key: report[key] - last_report.get(key, 0) for key in report}
    problems = []
    if new["invalid_plans"]:
        problems.append(f"{new['invalid_plans']} plans refused as non-finite or implausible")
    problems += list(snap.graph_problems)
    if snap.state == "holding":
        problems.append(f"holding the robot at zero: {snap.reason}")
    if new["rejected"]:
        problems.append(f"{new['rejected']} inputs rejected since the last report")
    if new["overruns"]:
        problems.append(f"{new['overruns']} control cycles overran")
    if new["invalid_plans"]:
        level = DiagnosticStatus.ERROR
    elif problems:
        level = DiagnosticStatus.WARN
    else:
        level = DiagnosticStatus.OK
    message = "; ".join(problems) if problems else f"{snap.state}"
    status = DiagnosticStatus(
        level=level,
        name=f"{node_name}: control",
        message=message,
        hardware_id=snap.predictor,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )
    return status, report
