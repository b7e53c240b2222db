"""What bench/domain_check.py reports: the sim mode's summary of the verdicts (time out of
domain, switches, error ratios, coverage) and the Markdown page of either mode. Kept apart from
the DDS rig so the figures can be recomputed from a run's JSON without starting a node."""

from __future__ import annotations

import math

import numpy as np


def summarise_sim(verdicts, start_s, end_s, first_moved_s, goals, reached) -> dict:
    """Time out of domain (each verdict holds until the next), switches, and the figures."""
    out_s, switches, previous, first_out_s = 0.0, 0, True, math.nan
    for row, following in zip(verdicts, [*verdicts[1:], {"stamp_s": end_s}], strict=True):
        if not row["in_domain"]:
            out_s += following["stamp_s"] - row["stamp_s"]
            if math.isnan(first_out_s):
                first_out_s = row["stamp_s"]
        switches += int(row["in_domain"] != previous)
        previous = row["in_domain"]
    judged = [r for r in verdicts if r["samples"] >= 10 and math.isfinite(r["baseline_m"])]
    ratios = [r["learned_m"] / r["baseline_m"] for r in judged if r["baseline_m"] > 0]
    coverage = [r["coverage"] for r in judged if math.isfinite(r["coverage"])]

    def spread(values):
        if not values:
            return {}
        a = np.asarray(values)
        return {k: float(np.percentile(a, q)) for k, q in (("min", 0), ("p50", 50), ("max", 100))}

    return {
        "simulated_s": end_s - start_s,
        "goals": goals,
        "reached": reached,
        "verdicts": len(verdicts),
        "out_of_domain_s": out_s,
        "out_of_domain_share": out_s / max(end_s - start_s, 1e-9),
        "switches": switches,
        "first_out_after_moving_s": first_out_s - first_moved_s,
        "error_ratio": spread(ratios),
        "coverage_95": spread(coverage),
        "out_reasons": sorted({r["reason"] for r in verdicts if not r["in_domain"]})[:5],
        "last_reason": verdicts[-1]["reason"] if verdicts else "",
    }


def markdown(mode: str, machine: dict, result: dict, command: str) -> str:
    lines = [
        f"# Domain check: {mode}",
        "",
        f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
        f"{machine['memory_gib']} GiB, torch {machine['torch']}; load average before "
        f"{machine['load_average_before']}.",
        f"Command: `{command}`",
        "",
    ]
    if mode == "switch":
        rounds = result["rounds"]
        lines += [
            "Seconds from the robot's change to the first `world_model/domain` message saying "
            "so (its stamp), to its arrival in another process, and to the first planner "
            "status on the other predictor. Default domain settings, diagnostics_period_s 1.0.",
            "",
            "| round | out: stamp | out: arrival | out: planner | back: stamp | back: arrival "
            "| back: planner |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rounds:
            lines.append(
                f"| {r['round']} | {r['out_stamp_s']:.1f} | {r['out_arrival_s']:.1f} | "
                f"{r['out_planner_s']:.1f} | {r['back_stamp_s']:.1f} | "
                f"{r['back_arrival_s']:.1f} | {r['back_planner_s']:.1f} |"
            )
        for key in ("out_stamp_s", "out_planner_s", "back_stamp_s", "back_planner_s"):
            values = [r[key] for r in rounds]
            lines.append(
                f"\n{key}: min {min(values):.1f}, median {float(np.median(values)):.1f}, "
                f"max {max(values):.1f} s"
                if values
                else ""
            )
        if rounds:
            lines += ["", f"An out-of-domain reason: {rounds[0]['out_reason']}"]
    else:
        r = result
        lines += [
            f"Simulated {r['simulated_s']:.0f} s, {r['goals']} goals sent, {r['reached']} "
            f"reached; {r['verdicts']} verdicts.",
            "",
            f"- out of domain: {r['out_of_domain_s']:.1f} s ({100 * r['out_of_domain_share']:.1f} "
            f"% of the time), {r['switches']} switches",
            f"- first out-of-domain verdict after the robot first moved: "
            f"{r['first_out_after_moving_s']:.1f} s (nan: never)",
            f"- learned/baseline error ratio over judged verdicts: {r['error_ratio']}",
            f"- coverage of the 95% interval: {r['coverage_95']}",
            f"- out-of-domain reasons: {r['out_reasons']}",
            f"- last verdict: {r['last_reason']}",
        ]
    return "\n".join(lines) + "\n"
