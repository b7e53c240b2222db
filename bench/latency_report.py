"""The Markdown report of bench/latency.py (one table row per case)."""

from __future__ import annotations


def markdown(machine: dict, results: list[dict], checkpoint_note: str, command: str) -> str:
    lines = [
        "# world_model_node end-to-end latency",
        "",
        f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
        f"{machine['memory_gib']} GiB, "
        f"GPU: {machine['gpu'] or 'none'}; torch {machine['torch']}, {machine['rmw']}, Fast DDS "
        "transports: "
        f"{machine['fastdds_transports']}; load average before the run: "
        f"{machine['load_average_before']}.",
        "",
        f"Command: `{command}`. Learned model: {checkpoint_note}.",
        "",
        "| case | model | input | load | p50 ms | p95 ms | p99 ms | max ms | >200 ms | misses | "
        "predicted / sent | node CPU % p50 | RSS MiB first min → end | machine load (1-min avg) "
        "during, max |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c, lat = r["case"], r["latency_ms"]
        lines.append(
            f"| {c['name']} | {c['model']} | {c['width']}×{c['height']} | "
            f"{'1 core busy' if c['cpu_load'] else '-'} | "
            f"{lat['p50']:.1f} | {lat['p95']:.1f} | {lat['p99']:.1f} | {lat['max']:.1f} | "
            f"{r['later_than_200ms']} | "
            f"{100 * r['deadline_miss_rate']:.1f}% | {r['predictions']} / {r['frames_sent']} | "
            f"{r['cpu_percent'].get('p50', float('nan')):.0f} | {r['rss_mib_first_minute']:.0f} → "
            f"{r['rss_mib_end']:.0f} | "
            f"{r.get('machine_load_1min', {}).get('max', float('nan')):.1f} |"
        )
    lines += [
        "",
        "Targets (issue 6) on this machine:",
        "",
        "| target | figure | met |",
        "|---|---|---|",
    ]
    by_name = {r["case"]["name"]: r for r in results}
    checks = []
    if "latent-vga" in by_name:
        r = by_name["latent-vga"]
        checks += [
            (
                "learned model, VGA 30 Hz: e2e p95 <= 60 ms",
                f"{r['latency_ms']['p95']:.1f} ms",
                r["latency_ms"]["p95"] <= 60,
            ),
            (
                "learned model, VGA 30 Hz: e2e p99 <= 100 ms",
                f"{r['latency_ms']['p99']:.1f} ms",
                r["latency_ms"]["p99"] <= 100,
            ),
            (
                "no frame later than 200 ms (warm-up included)",
                f"{r['including_warmup']['later_than_200ms']} of "
                f"{r['including_warmup']['predictions']}",
                r["including_warmup"]["later_than_200ms"] == 0,
            ),
        ]
        if r["seconds"] >= 600 and r.get("rss_mib_at_1_min"):
            growth = 100 * (r["rss_mib_end"] / r["rss_mib_at_1_min"] - 1)
            checks.append(
                (
                    f"RSS at the end of {r['seconds'] / 60:.0f} min within 5 % of RSS at 1 min",
                    f"{growth:+.1f} %",
                    abs(growth) <= 5,
                )
            )
    if "latent-vga-load" in by_name:
        r = by_name["latent-vga-load"]
        checks.append(
            (
                "same, one core saturated by another process: p95 <= 150 ms",
                f"{r['latency_ms']['p95']:.1f} ms",
                r["latency_ms"]["p95"] <= 150,
            )
        )
    lines += [f"| {what} | {figure} | {'yes' if ok else 'NO'} |" for what, figure, ok in checks]
    lines += [
        "",
        "Per-stage time in the node (p50 / p95 ms over its last 300 cycles), frames as the node "
        "counted them "
        "(dropped = replaced by a newer frame before the worker took it: the newest-only policy):",
        "",
        "| case | convert | preprocess | encode | rollout | publish | received | processed | "
        "dropped | skipped |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        st, fr = r["stages_ms"], r["node_frames"]
        lines.append(
            f"| {r['case']['name']} | "
            + " | ".join(f"{st[s]['p50']:.2f} / {st[s]['p95']:.2f}" for s in st)
            + " | "
            + " | ".join(
                str(fr.get(k, "?"))
                for k in (
                    "frames_received",
                    "frames_processed",
                    "frames_dropped",
                    "frames_skipped",
                )
            )
            + " |"
        )
    lines += [
        "",
        "Including the first --warmup seconds of the stream (excluded above): "
        + "; ".join(
            f"{r['case']['name']}: max {r['including_warmup']['max_ms']:.1f} ms, "
            f"{r['including_warmup']['later_than_200ms']} "
            f"of {r['including_warmup']['predictions']} later than 200 ms"
            for r in results
        )
        + ".",
    ]
    lines += [
        "",
        "Over time (p95 latency per tenth of the run; RSS at 1 min after warm-up and at the end):",
        "",
    ]
    for r in results:
        growth = (
            (100 * (r["rss_mib_end"] / r["rss_mib_at_1_min"] - 1))
            if r.get("rss_mib_at_1_min")
            else float("nan")
        )
        lines.append(
            f"- **{r['case']['name']}**: p95 ms "
            + ", ".join(f"{v:.0f}" for v in r["latency_p95_by_segment_ms"])
            + f"; RSS {r['rss_mib_at_1_min'] or float('nan'):.1f} MiB at 1 min -> "
            f"{r['rss_mib_end'] or float('nan'):.1f} "
            f"MiB at the end ({growth:+.1f}%); CPU p50/p95 "
            f"{r['cpu_percent'].get('p50', float('nan')):.0f}/"
            f"{r['cpu_percent'].get('p95', float('nan')):.0f}%"
        )
    return "\n".join(lines) + "\n"
