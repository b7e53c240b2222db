"""The evaluation report: ``eval_report.md`` and ``eval_report.json`` from the results of
:func:`~.evaluate.evaluate` and :func:`~.evaluate.target_figures`, beside the two plots.

Apart from the scoring (evaluate.py) because it is presentation only: table layout, number
formats and file names, which change for readers without touching a metric. The plots are
drawn by plots.py.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..data.windows import WindowSet
from .evaluate import EvalConfig
from .plots import plot_error_vs_horizon, plot_example_rollouts


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
