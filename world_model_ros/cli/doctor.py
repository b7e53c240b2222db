"""``world-model-ros doctor``: check a robot's bags before training on them.

Runs the data doctor (core/data/doctor.py: odometry twist against the poses, stamp order and
gaps, command rate, image sanity) on every bag and prints one line per problem naming the bag
and the topic; exits 1 when a bag is unusable (0 with ``--skip-bad``, which lists them). Then
says which contact labels ``train`` would use (core/data/labels.py) and, with
``--compare-labels`` on bags that carry the simulator's contact topic, how the labels derived
from motion compare with that truth (precision and recall per step, per contact event and per
2 s window, the collision head's label):

    world-model-ros doctor data/large_gt --robot large --compare-labels
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

HELP = "check bags (twist vs poses, gaps, command rate, images) and their contact labels"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .bag_input import add_topic_arguments
    from .robot_input import add_robot_arguments

    parser.add_argument("bags", nargs="+", type=Path, help="rosbag2 bags, or folders of bags")
    parser.add_argument(
        "--compare-labels",
        action="store_true",
        help="derive contact labels as if the contact topic were absent and compare them with it",
    )
    parser.add_argument("--json", type=Path, help="also write the findings to this JSON file")
    add_topic_arguments(parser)
    add_robot_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..core.data.bag_format import BagTopics, find_bags
    from ..core.data.dataset import load_episodes
    from ..core.data.label_quality import compare_labels
    from ..core.data.labels import derive_contacts, estimate_limits
    from .robot_input import apply_contact_labels, base_limits, load_robot_arg

    missing = [str(p) for p in args.bags if not Path(p).exists()]
    if missing:
        print(f"doctor: no such bag or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        robot = load_robot_arg(args)
    except ValueError as error:
        print(f"doctor: {error}", file=sys.stderr)
        return 2
    topics = BagTopics(
        image=args.image_topic,
        compressed_image=args.compressed_image_topic,
        odom=args.odom_topic,
        command=args.cmd_topic,
        contact=args.contact_topic or None,
        camera_info=args.camera_info_topic or None,
        bumper=args.bumper_topic or None,
        bumper_field=args.bumper_field,
    )
    bags = find_bags(args.bags)
    episodes, report = load_episodes(
        bags, topics, dt_s=args.dt, image_size=32, twist_from_poses=args.twist_from_poses
    )
    print(f"doctor: {report.summary()}")
    for problem in report.problems:
        print(f"doctor: {problem}")
    for problem in report.doctor:
        print(f"doctor: {problem.line()}")
    for bag, camera in sorted(report.cameras.items())[:1]:
        print(f"doctor: camera {camera.describe()} ({camera.source}, {Path(bag).name})")
    bad = report.bad_bags()
    findings: dict = {
        "bags": report.bags,
        "unusable": sorted(bad),
        "problems": [vars(p) for p in report.doctor],
    }
    truth = [e for e in episodes if e.contacts_t is not None]
    if args.compare_labels:
        if not truth:
            print("doctor: --compare-labels: these bags have no contact topic to compare with")
        else:
            limits = base_limits(robot) or estimate_limits(truth)
            derived = [derive_contacts(e, limits)[0] for e in truth]
            scores = compare_labels(derived, [e.contacts_t for e in truth])
            findings["label_comparison"] = scores
            print(
                f"doctor: derived contact labels vs the contact topic ({scores['steps']} "
                f"samples, {scores['true_events']} true contacts): per step precision "
                f"{scores['step_precision']:.2f} recall {scores['step_recall']:.2f}; per contact "
                f"precision {scores['event_precision']:.2f} recall {scores['event_recall']:.2f}; "
                f"per 2 s window precision {scores['window_precision']:.2f} recall "
                f"{scores['window_recall']:.2f}"
            )
    try:
        if episodes:  # nothing loaded: no labels to describe (the problems above say why)
            findings["labels"] = apply_contact_labels(
                copy.deepcopy(episodes), args, robot, need_labels=False, log=print
            )
    except ValueError as error:
        print(f"doctor: {error}")
    if args.json:
        args.json.write_text(json.dumps(findings, indent=2, default=str) + "\n")
    if bad:
        verdict = "left out by --skip-bad" if args.skip_bad else "unusable"
        print(f"doctor: {len(bad)} of {report.bags} bag(s) {verdict}: {', '.join(sorted(bad))}")
        return 0 if args.skip_bad else 1
    print(f"doctor: {report.bags} bag(s) usable")
    return 0
