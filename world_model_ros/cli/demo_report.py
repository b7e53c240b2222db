"""What ``world-model-ros demo`` leaves behind: ``summary.json``, ``summary.md`` and
``paths.png`` under ``--out``, and the summary table on the terminal.

Apart from the run (demo.py) because the lockstep and the DDS runs end the same way: one
function turns their episode results into the files and the lines a user reads.
"""

from __future__ import annotations

import json
from dataclasses import asdict


def write_summary(
    args,
    out,
    seeds,
    arenas,
    models,
    results,
    demo,
    wall_s: float,
    bag_written: bool,
    maps: dict | None = None,
) -> int:
    from ..core.evaluation.demo_metrics import summarise, summary_table
    from ..sim.demo_plot import plot_paths

    summaries = [summarise(name, episodes) for name, episodes in results.items()]
    table = summary_table(summaries)
    png = plot_paths(
        out / "paths.png", arenas, results, demo.controller.xy_goal_tolerance, maps=maps
    )
    report = {
        "layout_seeds": seeds,
        "wall_s": wall_s,
        "mode": "ros" if args.ros else "lockstep",
        "planner": asdict(demo.controller),
        "demo": asdict(demo),
        "models": {name: getattr(model, "model_id", name) for name, model in models},
        "summaries": [s.to_dict() for s in summaries],
        "episodes": [
            {
                "planner": r.planner,
                "layout_seed": r.setup.layout_seed,
                "start": r.setup.start_xyyaw,
                "goal": r.setup.goal_xyyaw,
                "status": r.status,
                "reached": r.reached,
                "collided": r.collided,
                "contact_steps": r.contact_steps,
                "detours": r.detours,
                "time_s": r.time_s,
                "final_distance_m": r.final_distance_m,
            }
            for episodes in results.values()
            for r in episodes
        ],
    }
    (out / "summary.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "summary.md").write_text(
        f"# Demo summary\n\nLayouts {seeds[0]}..{seeds[-1]}, {args.episodes} episodes "
        f"per planner, wall time {wall_s:.0f} s.\n\n{table}\n"
    )
    print()
    print(table)
    print()
    print(f"paths:     {png}")
    if bag_written:
        print(
            f"recording: {out / 'demo_bag'} (MCAP; open in Foxglove, or `ros2 bag play` with "
            "rviz2)"
        )
    print(f"summary:   {out / 'summary.json'}  ({wall_s:.0f} s)")
    return 0
