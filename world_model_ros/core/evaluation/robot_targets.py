"""The targets of a checkpoint adapted to a robot from its own bags (docs/any_robot.md).

Measured on windows of held-out bags that do carry the simulator's truth (contacts and the
arena map), although the checkpoint was trained without either: ADE@2s against the kinematic
model on windows with a true contact, collision AUROC against the true contacts, the 95 %
region's coverage on all windows and on contact windows (calibrated: neither too small nor too
large), and interpenetrating predicted poses.
"""

from __future__ import annotations

from typing import Any

from .evaluate import KINEMATIC

# (name, description, low, high): the value must lie in [low, high] (None: unbounded)
ROBOT_TARGETS = (
    ("ade_vs_kinematic_contact", "ADE@2s ≤ 0.25 × kinematic (contact windows)", None, 0.25),
    ("collision_auroc", "collision-within-2s AUROC ≥ 0.95 (true contacts)", 0.95, None),
    ("coverage_all", "95 % region holds 90-98 % of true poses (all windows)", 0.90, 0.98),
    ("coverage_contact", "95 % region holds 90-98 % of true poses (contact windows)", 0.90, 0.98),
    ("interpenetration_rate", "interpenetrating predicted poses ≤ 5 %", None, 0.05),
)


def robot_target_figures(
    results: dict[str, Any], learned: str, dt_s: float, horizon_steps: int
) -> list[dict[str, Any]]:
    """Rows (target, description, value, met) of :data:`ROBOT_TARGETS`; None where the bags
    cannot tell (no contacts or no map)."""
    key = f"ade_{horizon_steps * dt_s:.1f}s"
    all_, contact = results["subsets"]["all"], results["subsets"]["contact"]
    kinematic = contact.get(KINEMATIC, {}).get(key)
    measured = {
        "ade_vs_kinematic_contact": contact[learned][key] / kinematic
        if kinematic and contact[learned][key] == contact[learned][key]
        else None,
        "collision_auroc": all_[learned]["collision_auroc"],
        "coverage_all": all_[learned]["coverage_95"],
        "coverage_contact": contact[learned]["coverage_95"]
        if results["windows"]["contact"]
        else None,
        "interpenetration_rate": all_[learned]["interpenetration_rate"],
    }
    rows = []
    for name, text, low, high in ROBOT_TARGETS:
        value = measured[name]
        met = None
        if value is not None and value == value:
            met = (low is None or value >= low) and (high is None or value <= high)
        rows.append({"target": name, "description": text, "value": value, "met": met})
    return rows
