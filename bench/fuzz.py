"""The long fuzz run: 10,000+ malformed messages across every subscribed topic of every node.

All five targets of test/fuzz_harness.py run at once as processes over DDS (world_model_node
with a raw and with a compressed camera, mpc_planner_node with the local and the twin state
source, sim_node), each in its own namespace. Hypothesis draws the malformed cases
(test/malformed.py); they go out round-robin, one per target at a time, and each must be
counted on its node's ``diagnostics`` under one of its reasons before the next one to that
node (so nothing is lost to a depth-1 camera queue). Good input keeps every node's timeline
fresh, always-valid messages (contact, domain verdicts) are mixed in, and good input must
still be served at the end. Figures:

- messages sent and counted per target, reasons seen, crashes (a node that exited);
- non-finite values in any output message (predictions, paths, markers, states, plans,
  commands, odometry);
- resident memory (VmRSS) of each node after the first 10% of the run and at the end, and its
  largest value in between: flat within 5% is the target;
- the decompression bomb: peak resident memory (VmHWM) of the compressed-camera node before
  and after 20 PNGs of 20000 x 20000 pixels (48.6 KB each), against its idle memory (target:
  within 10%).

Results: bench/results/fuzz-<tag>.json and .md with the machine. Timed figures alone:

    .venv/bin/python bench/fuzz.py --messages 10000   # alone on the machine
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "test"), str(HERE)]
os.environ.setdefault("WMR_TEST_DOMAIN_ID", str(200 + os.getpid() % 30))

import conftest  # noqa: E402,F401 - sets the ROS domain before rclpy loads
import malformed as mf  # noqa: E402
import rclpy  # noqa: E402
from fuzz_harness import Fuzzer, all_targets, rss_kb  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from ros_harness import RosTestNode  # noqa: E402


def draw_cases(strategy, count: int, seed: int) -> list:
    """``count`` cases drawn by hypothesis (generation only: nothing is published here)."""
    drawn: list = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def collect(case):
        drawn.append(case)

    from hypothesis import seed as hypothesis_seed

    hypothesis_seed(seed)(collect)()
    return drawn


def settle(fuzzer: Fuzzer, sent: dict, entry: dict, attempts: int = 3) -> list[str]:
    """The reasons the node counted for ``sent``; a case not counted within 4 s is published
    again (best-effort subscriptions may drop a message), ``attempts`` times in all."""
    for attempt in range(attempts):
        try:
            fuzzer.wait(lambda sent=sent: bool(fuzzer.counted(sent)), repr(sent["case"]), 4.0)
            return fuzzer.counted(sent)
        except AssertionError:
            fuzzer.alive_check()
            if attempt < attempts - 1:
                entry["resent"] += 1
                sent = fuzzer.send(sent["case"])
    return []


def vm(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def bomb_phase(fuzzer: Fuzzer, bombs: int = 20) -> dict:
    """Peak memory of the compressed-camera node under decompression bombs vs idle."""
    pid = fuzzer.node.process.pid
    idle_rss = vm(pid, "VmRSS")
    peak_before = vm(pid, "VmHWM")
    counted = 0
    for _ in range(bombs):
        pending = fuzzer.send(
            mf.Case(
                "camera/image_raw/compressed",
                lambda now_s: mf.compressed(now_s, mf.bomb_png(), format="png"),
                frozenset({"bad_size"}),
                "bomb 20000x20000",
            )
        )
        fuzzer.wait(lambda pending=pending: bool(fuzzer.counted(pending)), "a bomb counted")
        counted += "bad_size" in fuzzer.counted(pending)
    peak_after = vm(pid, "VmHWM")
    return {
        "bombs": bombs,
        "png_bytes": len(mf.bomb_png()),
        "counted_bad_size": counted,
        "idle_rss_mb": idle_rss / 1024,
        "peak_before_mb": peak_before / 1024,
        "peak_after_mb": peak_after / 1024,
        "peak_after_vs_idle": peak_after / max(idle_rss, 1) - 1.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="malformed messages in all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="cpu2")
    args = parser.parse_args()
    import torch
    from planning import machine_description  # bench/planning.py

    context = rclpy.Context()
    rclpy.init(context=context)
    ros = RosTestNode(context, "fuzz_bench")
    log_dir = Path(tempfile.mkdtemp(prefix="fuzz-"))
    targets = all_targets()
    fuzzers = [Fuzzer(ros, target, log_dir) for target in targets]
    per_target = -(-args.messages // len(targets))
    report: dict = {"targets": {}, "command": " ".join(["bench/fuzz.py", *sys.argv[1:]])}
    started = time.monotonic()
    try:
        for fuzzer in fuzzers:
            fuzzer.ready()
            fuzzer.serves_good_input()
        compressed = next(f for f in fuzzers if f.target.name == "fuzz_wmc")
        report["bomb"] = bomb_phase(compressed)
        print("bomb:", report["bomb"], flush=True)
        queues = {
            f.target.name: draw_cases(
                st.one_of(*f.target.cases.values()), per_target, args.seed + i
            )
            for i, f in enumerate(fuzzers)
        }
        stats = {
            f.target.name: {
                "sent": 0,
                "counted": 0,
                "resent": 0,
                "uncounted": [],
                "wrong_reason": [],
                "reasons": {},
                "rss": [],
            }
            for f in fuzzers
        }
        warmup = max(1, per_target // 10)
        for k in range(per_target):
            pending = {}
            for fuzzer in fuzzers:
                cases = queues[fuzzer.target.name]
                pending[fuzzer.target.name] = (fuzzer, fuzzer.send(cases[k % len(cases)]))
            for name, (fuzzer, sent) in pending.items():
                entry = stats[name]
                entry["sent"] += 1
                counted = settle(fuzzer, sent, entry)
                if not counted:
                    entry["uncounted"].append(repr(sent["case"]))
                    continue
                entry["counted"] += 1
                for reason in counted:
                    entry["reasons"][reason] = entry["reasons"].get(reason, 0) + 1
                if not set(counted) & fuzzer.allowed(sent["case"]):
                    entry["wrong_reason"].append(f"{sent['case']} -> {counted}")
                fuzzer.check_outputs()
            if k % 50 == 0:  # valid-only topics now and then, and good input
                for fuzzer in fuzzers:
                    for topic, strategy in fuzzer.target.valid.items():
                        msg = draw_cases(strategy, 1, args.seed + k)[0]
                        fuzzer.accept(topic, msg)
            if k == warmup or k == per_target - 1 or k % 200 == 0:
                for fuzzer in fuzzers:
                    stats[fuzzer.target.name]["rss"].append(
                        (k, rss_kb(fuzzer.node.process.pid) / 1024)
                    )
                print(f"{k}/{per_target} rounds, {time.monotonic() - started:.0f} s", flush=True)
        for fuzzer in fuzzers:
            fuzzer.serves_good_input()
            fuzzer.check_outputs()
            entry = stats[fuzzer.target.name]
            rss = [mb for k, mb in entry["rss"] if k >= warmup]
            entry.update(
                alive=fuzzer.node.alive(),
                non_finite_outputs=len(fuzzer.non_finite),
                non_finite_examples=fuzzer.non_finite[:5],
                rss_after_warmup_mb=rss[0],
                rss_end_mb=rss[-1],
                rss_max_mb=max(rss),
                rss_growth=max(rss) / rss[0] - 1.0,
                distinct_cases=len({repr(c) for c in queues[fuzzer.target.name]}),
                wrong_reason=entry["wrong_reason"][:10],
                wrong_reason_count=len(entry["wrong_reason"]),
                uncounted=entry["uncounted"][:10],
                uncounted_count=len(entry["uncounted"]),
            )
            report["targets"][fuzzer.target.name] = entry
    finally:
        for fuzzer in fuzzers:
            fuzzer.stop()
        ros.destroy()
        rclpy.shutdown(context=context)
    report["seconds"] = time.monotonic() - started
    report["machine"] = machine_description(torch.device("cpu"))
    write(report, args)
    ok = all(
        t["alive"]
        and not t["non_finite_outputs"]
        and t["rss_growth"] <= 0.05
        and not t["uncounted_count"]
        for t in report["targets"].values()
    )
    return 0 if ok and report["bomb"]["peak_after_vs_idle"] <= 0.10 else 1


def write(report: dict, args) -> None:
    out = HERE / "results" / f"fuzz-{args.tag}"
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    machine, bomb = report["machine"], report["bomb"]
    total = sum(t["sent"] for t in report["targets"].values())
    rows = [
        f"| {name} | {t['sent']} | {t['counted']} | {t['resent']} | {t['wrong_reason_count']} | "
        f"{'alive' if t['alive'] else 'CRASHED'} | {t['non_finite_outputs']} | "
        f"{t['rss_after_warmup_mb']:.0f} | {t['rss_max_mb']:.0f} | {t['rss_end_mb']:.0f} | "
        f"{100 * t['rss_growth']:+.1f}% | {', '.join(sorted(t['reasons']))} |"
        for name, t in report["targets"].items()
    ]
    load = os.getloadavg()
    out.with_suffix(".md").write_text(
        "\n".join(
            [
                f"# Long fuzz run ({args.tag})",
                "",
                f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
                f"{machine['memory_gib']} GiB, no GPU; load average at the end {load[0]:.2f}. "
                f"Command: `.venv/bin/python {report['command']}` (alone on the machine); "
                f"{report['seconds'] / 60:.1f} min.",
                "",
                f"{total} malformed messages, drawn by hypothesis (test/malformed.py), to five "
                "nodes at once over DDS, each counted on its node's diagnostics before the next "
                "one to that node; good input between them and served at the end.",
                "",
                "| node | malformed cases | counted | published again (not counted in 4 s) | "
                "counted under another reason | process | non-finite outputs | RSS after 10% (MB) "
                "| max | end | growth | reasons |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|",
                *rows,
                "",
                f"Decompression bomb ({bomb['bombs']} PNGs of 20000 x 20000 pixels, "
                f"{bomb['png_bytes'] / 1000:.1f} KB each, to the compressed-camera node): "
                f"{bomb['counted_bad_size']} counted as bad_size; idle RSS "
                f"{bomb['idle_rss_mb']:.0f} MB, peak (VmHWM) {bomb['peak_before_mb']:.0f} MB "
                f"before and {bomb['peak_after_mb']:.0f} MB after: "
                f"{100 * bomb['peak_after_vs_idle']:+.1f}% of idle (target within 10%).",
                "",
            ]
        )
    )
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    raise SystemExit(main())
