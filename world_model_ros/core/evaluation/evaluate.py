"""Evaluation of predictors on held-out windows, side by side with the baselines, and the report.

Every predictor sees the same windows (start frame + the recorded commands) and is scored on
the same metrics (core/evaluation/metrics.py): ADE/FDE and heading error at 0.5/1/2 s,
collision-within- horizon AUROC (label: a contact within the horizon; score: the highest predicted
collision probability over it), the interpenetration rate of predicted footprints against the
arena's ground truth, and the 95 % coverage of the predicted position uncertainty. Results are
given on all windows and on the windows with a contact, where vision has to earn its keep.

Baselines: ``constant velocity`` (the measured twist held), ``kinematic`` (the commands
integrated, core/model/kinematic.py) and, when given, the no-camera ablation checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.windows import WindowSet
from ..geometry import integrate_unicycle
from ..model.contract import LatentState, WorldModel
from ..model.kinematic import KinematicConfig, KinematicPredictor
from ..model.latent_model import LatentPredictor
from .metrics import (
    auroc,
    gaussian_coverage_95,
    horizon_summary,
    interpenetrating,
    position_errors,
)

CONSTANT_VELOCITY = "constant velocity"
KINEMATIC = "kinematic"


@dataclass(frozen=True)
class EvalConfig:
    horizon_steps: tuple[int, ...] = (5, 10, 20)  # 0.5, 1, 2 s at dt = 0.1 s
    stride: int = 5  # a window every stride steps (overlapping windows are near duplicates)
    interpenetration_tolerance_m: float = 0.02
    batch_size: int = 1024
    example_rollouts: int = 4


# Issue 4's targets: (name, description, metric key, threshold, "<=" or ">=").
TARGETS = (
    ("ade_vs_kinematic_all", "ADE@2s ≤ 0.6 × kinematic (all windows)", 0.6, "<="),
    ("ade_vs_kinematic_contact", "ADE@2s ≤ 0.35 × kinematic (contact windows)", 0.35, "<="),
    ("collision_auroc", "collision-within-2s AUROC ≥ 0.95", 0.95, ">="),
    ("interpenetration_rate", "interpenetrating predicted poses ≤ 3 %", 0.03, "<="),
    ("ade_vs_no_camera_contact", "ADE@2s ≤ 0.7 × no-camera ablation (contact windows)", 0.7, "<="),
)


@dataclass
class Predictions:
    poses_bh3: np.ndarray  # odom frame
    position_var_bh: np.ndarray | None
    collision_prob_bh: np.ndarray | None


def predict_windows(
    model: WorldModel | str, windows: WindowSet, config: EvalConfig, dt_s: float
) -> Predictions:
    """Run one predictor over every window (batched), from the window's start frame and commands.

    ``model`` is a predictor or the name CONSTANT_VELOCITY (the measured twist held for H steps).
    """
    poses, variances, collisions = [], [], []
    for chunk in torch.arange(len(windows)).split(config.batch_size):
        batch = windows.gather(chunk)
        if isinstance(model, str):  # CONSTANT_VELOCITY
            held = batch.twist_b2[:, None, :].expand(-1, windows.horizon, -1)
            poses.append(integrate_unicycle(batch.start_pose_b3, held, dt_s).numpy())
            continue
        if isinstance(model, LatentPredictor):
            z = model.encode_batch(batch.images_bss3, batch.twist_b2)
            latent = LatentState(pose_3=batch.start_pose_b3, twist_2=batch.twist_b2, features=z)
        else:
            latent = LatentState(pose_3=batch.start_pose_b3, twist_2=batch.twist_b2)
        rollout = model.rollout(latent, batch.actions_bh2).to_numpy()
        poses.append(rollout["poses_bh3"])
        variances.append(rollout["position_var_bh"])
        collisions.append(rollout["collision_prob_bh"])
    has_collision = not isinstance(model, (str, KinematicPredictor))
    return Predictions(
        np.concatenate(poses) if poses else np.zeros((0, windows.horizon, 3)),
        np.concatenate(variances) if variances else None,
        np.concatenate(collisions) if collisions and has_collision else None,
    )


def score(
    pred: Predictions, windows: WindowSet, mask_b: np.ndarray, config: EvalConfig, dt_s: float
) -> dict[str, Any]:
    """All metrics of one predictor on the windows selected by ``mask_b``."""
    true = windows.gather(torch.arange(len(windows)))
    true_poses = true.poses_bh3.numpy()[mask_b]
    poses = pred.poses_bh3[mask_b]
    out: dict[str, Any] = horizon_summary(poses, true_poses, config.horizon_steps, dt_s)
    labels = (true.contacts_bh.numpy()[mask_b] > 0.5).any(axis=1)
    known = true.contact_known_b.numpy()[mask_b]
    out["collision_auroc"] = (
        auroc(labels[known], pred.collision_prob_bh[mask_b][known].max(axis=1))
        if pred.collision_prob_bh is not None and known.any()
        else None
    )
    out["interpenetration_rate"] = interpenetration_rate(
        poses, true.episode_b.numpy()[mask_b], windows, config
    )
    out["coverage_95"] = (
        gaussian_coverage_95(position_errors(poses, true_poses), pred.position_var_bh[mask_b])
        if pred.position_var_bh is not None and len(poses)
        else None
    )
    return out


def interpenetration_rate(
    poses_bh3: np.ndarray, episode_b: np.ndarray, windows: WindowSet, config: EvalConfig
) -> float | None:
    """Share of predicted poses whose footprint overlaps an obstacle/wall (windows with a map)."""
    hits, total = 0, 0
    for episode in np.unique(episode_b):
        arena = windows.arenas[int(episode)]
        if arena is None:
            continue
        xy = poses_bh3[episode_b == episode][..., :2].reshape(-1, 2)
        hits += int(interpenetrating(xy, arena, config.interpenetration_tolerance_m).sum())
        total += len(xy)
    return hits / total if total else None


def evaluate(
    models: dict[str, WorldModel | str], windows: WindowSet, config: EvalConfig, dt_s: float
) -> dict[str, Any]:
    """Metrics of every model on all windows and on contact windows, plus the targets' ratios."""
    if len(windows) == 0:
        raise ValueError(
            "no evaluation windows: every episode is shorter than horizon + 1 = "
            f"{windows.horizon + 1}"
        )
    everything = windows.gather(torch.arange(len(windows)))
    contact_b = np.asarray((everything.contacts_bh.numpy() > 0.5).any(axis=1))
    subsets = {"all": np.ones(len(windows), bool), "contact": contact_b}
    predictions = {
        name: predict_windows(model, windows, config, dt_s) for name, model in models.items()
    }
    truth = Predictions(everything.poses_bh3.numpy(), None, None)
    results: dict[str, Any] = {
        "subsets": {},
        "windows": {k: int(m.sum()) for k, m in subsets.items()},
    }
    for subset, mask in subsets.items():
        table = {
            name: score(pred, windows, mask, config, dt_s) for name, pred in predictions.items()
        }
        table["ground truth"] = {
            "interpenetration_rate": interpenetration_rate(
                truth.poses_bh3[mask], everything.episode_b.numpy()[mask], windows, config
            )
        }
        results["subsets"][subset] = table
    results["predictions"] = predictions  # kept for plotting; dropped from the JSON
    return results


def target_figures(
    results: dict[str, Any], learned: str, ablation: str | None, dt_s: float, horizon_steps: int
) -> dict[str, Any]:
    """The issue's target table: measured value, threshold, met or not."""
    key = f"ade_{horizon_steps * dt_s:.1f}s"
    all_, contact = results["subsets"]["all"], results["subsets"]["contact"]

    def ratio(table: dict, a: str, b: str | None) -> float | None:
        if b is None or b not in table or table[a][key] is None or not table[b][key]:
            return None
        return float(table[a][key] / table[b][key])

    measured = {
        "ade_vs_kinematic_all": ratio(all_, learned, KINEMATIC),
        "ade_vs_kinematic_contact": ratio(contact, learned, KINEMATIC),
        "collision_auroc": all_[learned]["collision_auroc"],
        "interpenetration_rate": all_[learned]["interpenetration_rate"],
        "ade_vs_no_camera_contact": ratio(contact, learned, ablation),
    }
    rows = []
    for name, text, threshold, sense in TARGETS:
        value = measured[name]
        met = (
            None
            if value is None or value != value
            else (value <= threshold if sense == "<=" else value >= threshold)
        )
        rows.append(
            {
                "target": name,
                "description": text,
                "threshold": threshold,
                "value": value,
                "met": met,
            }
        )
    return {"rows": rows}


# ---------------------------------------------------------------------------------------------
# Report: Markdown + JSON + PNG plots


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def write_report(
    results: dict[str, Any],
    targets: dict[str, Any],
    out_dir: str | Path,
    header: dict[str, Any],
    windows: WindowSet,
    config: EvalConfig,
    dt_s: float,
    learned: str,
) -> dict[str, Path]:
    """Write eval_report.md, eval_report.json, error_vs_horizon.png, example_rollouts.png."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": out_dir / "eval_report.md",
        "json": out_dir / "eval_report.json",
        "horizon_plot": out_dir / "error_vs_horizon.png",
        "rollout_plot": out_dir / "example_rollouts.png",
    }
    serialisable = {
        "header": header,
        "eval_config": asdict(config),
        "windows": results["windows"],
        "subsets": results["subsets"],
        "targets": targets["rows"],
        "robot_targets": targets.get("robot_rows"),
    }
    paths["json"].write_text(json.dumps(serialisable, indent=2, default=_json_default) + "\n")
    plot_error_vs_horizon(results, windows, dt_s, paths["horizon_plot"], learned)
    plot_example_rollouts(results, windows, config, dt_s, paths["rollout_plot"], learned)
    paths["markdown"].write_text(markdown(results, targets, header, config, dt_s))
    return paths


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def markdown(
    results: dict[str, Any],
    targets: dict[str, Any],
    header: dict[str, Any],
    config: EvalConfig,
    dt_s: float,
) -> str:
    lines = [f"# Latent world model: evaluation on {header.get('split', 'held-out layouts')}", ""]
    for key, value in header.items():
        lines.append(
            f"- **{key}**: "
            f"{value if not isinstance(value, (list, tuple)) else ', '.join(map(str, value))}"
        )
    lines += [
        "",
        f"Windows: {results['windows']['all']} (every {config.stride} steps), of which "
        f"{results['windows']['contact']} contain a contact within the horizon.",
        "",
        "## Targets",
        "",
        "| target | measured | threshold | met |",
        "|---|---|---|---|",
    ]
    for row in targets["rows"]:
        met = {True: "yes", False: "**no**", None: "—"}[row["met"]]
        if row["target"] == "interpenetration_rate":  # shown in percent, like the tables below
            value, threshold = _fmt(_pct(row["value"]), 2) + " %", f"{100 * row['threshold']:g} %"
        else:
            value, threshold = _fmt(row["value"]), f"{row['threshold']:g}"
        lines.append(f"| {row['description']} | {value} | {threshold} | {met} |")
    if targets.get("robot_rows"):
        lines += ["", "Adapted-robot targets:", "", "| target | measured | met |", "|---|---|---|"]
        for row in targets["robot_rows"]:
            met = {True: "yes", False: "**no**", None: "—"}[row["met"]]
            lines.append(f"| {row['description']} | {_fmt(row['value'])} | {met} |")
    labels = [f"{steps * dt_s:.1f}s" for steps in config.horizon_steps]
    for subset, title in (("all", "All windows"), ("contact", "Windows with a contact")):
        table = results["subsets"][subset]
        lines += [
            "",
            f"## {title}",
            "",
            "| model | "
            + " | ".join(f"ADE {x} (m)" for x in labels)
            + " | "
            + " | ".join(f"FDE {x} (m)" for x in labels)
            + f" | heading {labels[-1]} (deg) | collision AUROC | "
            "interpenetrating poses | 95 % coverage |",
            "|---" * (2 * len(labels) + 5) + "|",
        ]
        for name, row in table.items():
            if name == "ground truth":
                continue
            lines.append(
                f"| {name} | "
                + " | ".join(_fmt(row[f"ade_{x}"]) for x in labels)
                + " | "
                + " | ".join(_fmt(row[f"fde_{x}"]) for x in labels)
                + f" | {_fmt(row[f'heading_deg_{labels[-1]}'], 1)} | "
                f"{_fmt(row['collision_auroc'])} | "
                f"{_fmt(_pct(row['interpenetration_rate']))} | {_fmt(row['coverage_95'])} |"
            )
        gt = table["ground truth"]["interpenetration_rate"]
        lines.append("")
        lines.append(
            f"Recorded (ground-truth) poses interpenetrating by more than "
            f"{config.interpenetration_tolerance_m * 100:.0f} cm: {_fmt(_pct(gt))} (the floor for "
            "any model)."
        )
    lines += [
        "",
        "Interpenetrating poses in %. Coverage: share of position errors inside the predicted 95 "
        "% "
        "region (0.95 when the uncertainty is calibrated). Collision AUROC: label = contact "
        "within "
        "the horizon, score = highest predicted collision probability over it.",
        "",
        "![error against horizon](error_vs_horizon.png)",
        "",
        "![example rollouts](example_rollouts.png)",
        "",
    ]
    return "\n".join(lines)


def _pct(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


MODEL_STYLE = {CONSTANT_VELOCITY: ("tab:gray", ":"), KINEMATIC: ("tab:orange", "--")}


def _style(name: str, learned: str | None = None) -> tuple[str, str]:
    if name in MODEL_STYLE:
        return MODEL_STYLE[name]
    return ("tab:blue", "-") if name == learned or learned is None else ("tab:purple", "-.")


def plot_error_vs_horizon(
    results: dict[str, Any], windows: WindowSet, dt_s: float, path: Path, learned: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    everything = windows.gather(torch.arange(len(windows)))
    true = everything.poses_bh3.numpy()
    contact = (everything.contacts_bh.numpy() > 0.5).any(axis=1)
    t = dt_s * np.arange(1, windows.horizon + 1)
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for axis, (mask, title) in zip(
        axes,
        ((np.ones(len(true), bool), "all windows"), (contact, "contact windows")),
        strict=False,
    ):
        for name, pred in results["predictions"].items():
            if mask.any():
                error = position_errors(pred.poses_bh3[mask], true[mask]).mean(axis=0)
                colour, line = _style(name, learned)
                axis.plot(t, error, line, color=colour, label=name)
        axis.set_title(f"{title} (n={int(mask.sum())})")
        axis.set_xlabel("horizon (s)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("mean position error (m)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def plot_example_rollouts(
    results: dict[str, Any],
    windows: WindowSet,
    config: EvalConfig,
    dt_s: float,
    path: Path,
    learned: str,
) -> None:
    """A few contact windows drawn over the top-down arena map: truth and every model's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Polygon, Rectangle

    everything = windows.gather(torch.arange(len(windows)))
    true = everything.poses_bh3.numpy()
    start = everything.start_pose_b3.numpy()
    contact = np.asarray((everything.contacts_bh.numpy() > 0.5).any(axis=1))
    episode = everything.episode_b.numpy()
    kinematic = results["predictions"].get(KINEMATIC)
    # The most telling examples: contact windows in which the robot really drives (>= 0.25 m) and
    # the kinematic model is most wrong, one per episode.
    order = np.argsort(
        -(position_errors(kinematic.poses_bh3, true)[:, -1] if kinematic else np.zeros(len(true)))
    )
    moved = np.linalg.norm(true[:, -1, :2] - start[:, :2], axis=1) >= 0.25
    chosen, seen = [], set()
    for index in order:
        if (
            contact[index]
            and moved[index]
            and episode[index] not in seen
            and windows.arenas[episode[index]] is not None
        ):
            chosen.append(int(index))
            seen.add(episode[index])
        if len(chosen) == config.example_rollouts:
            break
    if not chosen:
        chosen = [int(i) for i in order[: config.example_rollouts]]
    columns = max(1, min(2, len(chosen)))
    rows = max(1, (len(chosen) + columns - 1) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 5 * rows), squeeze=False)
    for axis in axes.flat[len(chosen) :]:
        axis.axis("off")
    for axis, index in zip(axes.flat, chosen, strict=False):
        arena = windows.arenas[episode[index]]
        if arena is not None:
            h = arena.half_size_m
            axis.add_patch(Rectangle((-h, -h), 2 * h, 2 * h, fill=False, lw=2, color="black"))
            for o in arena.obstacles:
                if o.kind == "cylinder":
                    axis.add_patch(Circle((o.x, o.y), o.hx, color="0.6"))
                else:
                    c, s = np.cos(o.yaw), np.sin(o.yaw)
                    corners = np.array(
                        [[o.hx, o.hy], [-o.hx, o.hy], [-o.hx, -o.hy], [o.hx, -o.hy]]
                    )
                    axis.add_patch(
                        Polygon(corners @ np.array([[c, s], [-s, c]]) + [o.x, o.y], color="0.6")
                    )
            axis.add_patch(
                Circle(
                    tuple(start[index, :2]), arena.robot_radius_m, fill=False, color="black", lw=1
                )
            )
        path_true = np.vstack([start[index, :2], true[index, :, :2]])
        axis.plot(path_true[:, 0], path_true[:, 1], "k-", lw=2.5, label="recorded")
        for name, pred in results["predictions"].items():
            xy = np.vstack([start[index, :2], pred.poses_bh3[index, :, :2]])
            colour, line = _style(name, learned)
            axis.plot(xy[:, 0], xy[:, 1], line, color=colour, lw=1.8, label=name)
            if name == learned and pred.position_var_bh is not None:
                sigma = np.sqrt(pred.position_var_bh[index, -1])
                axis.add_patch(
                    Circle(
                        pred.poses_bh3[index, -1, :2], 2 * sigma, fill=False, color=colour, ls=":"
                    )
                )
        everything_xy = np.vstack(
            [path_true] + [p.poses_bh3[index, :, :2] for p in results["predictions"].values()]
        )
        centre = 0.5 * (everything_xy.min(axis=0) + everything_xy.max(axis=0))
        half = max(
            0.6, 0.5 * float((everything_xy.max(axis=0) - everything_xy.min(axis=0)).max()) + 0.3
        )
        axis.set_xlim(centre[0] - half, centre[0] + half)
        axis.set_ylim(centre[1] - half, centre[1] + half)
        axis.set_aspect("equal")
        source = windows.episodes_meta[episode[index]]
        axis.set_title(
            f"layout {source['layout_seed']}, step {int(everything.start_b[index])}", fontsize=9
        )
    axes.flat[0].legend(fontsize=7, loc="best")
    figure.suptitle(
        f"{windows.horizon * dt_s:.0f} s rollouts under the recorded commands (contact windows)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=70)
    plt.close(figure)


def kinematic_baseline(dt_s: float, horizon: int) -> KinematicPredictor:
    return KinematicPredictor(KinematicConfig(dt_s=dt_s, horizon=horizon))
