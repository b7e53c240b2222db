"""``--robot`` and the contact labels, shared by ``train``, ``adapt`` and ``doctor``.

The robot file (config/robots/, sim/robots.py) gives the base's limits for the contact-label
derivation and the footprint and camera a checkpoint records; without one the limits are
estimated from the bags and the footprint stays unknown (the checkpoint says so).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..core.data.episodes import Episode

NO_LABELS = (
    "no collision labels: {why}; give a contact topic (--contact-topic), a bumper "
    "(--bumper-topic), or let train derive contacts from the motion (--derive-contacts auto), "
    "or train without a collision head (--no-collision-head)"
)


def add_robot_arguments(parser: argparse.ArgumentParser, derive_default: str = "auto") -> None:
    parser.add_argument(
        "--robot",
        help="robot file (a name under config/robots/ or a YAML path): speed limits for the "
        "contact labels, footprint and camera recorded in the checkpoint",
    )
    parser.add_argument(
        "--derive-contacts",
        choices=("auto", "always", "never"),
        default=derive_default,
        help="contact labels from commanded vs measured motion: auto = for bags without a "
        "contact topic (default), always = even where there is one, never = off",
    )


def load_robot_arg(args: argparse.Namespace):
    """The robot description of ``--robot`` (None without it); SystemExit-free: raises
    ValueError with the robot file's one-line error."""
    name = getattr(args, "robot", None)
    if not name:
        return None
    from ..sim.robots import load_robot

    return load_robot(name)


def base_limits(robot):
    from ..core.data.labels import BaseLimits

    if robot is None:
        return None
    lim = robot.limits
    return BaseLimits(
        lim.max_linear_mps,
        lim.max_linear_accel_mps2,
        lim.max_angular_radps,
        lim.max_angular_accel_radps2,
    )


def apply_contact_labels(
    episodes: list[Episode],
    args: argparse.Namespace,
    robot,
    need_labels: bool,
    log=print,
) -> dict[str, Any]:
    """Fill the episodes' contact labels (core/data/labels.py), print where they came from and
    how many each source gave, and refuse (ValueError, one line) when a collision head is to be
    trained and no source gave a single contact. Returns the report for the checkpoint."""
    from ..core.data.labels import estimate_limits, label_episodes

    limits = base_limits(robot)
    if limits is None and args.derive_contacts != "never":
        limits = estimate_limits(episodes)
        log(
            "labels: no --robot: base limits estimated from the bags "
            f"({limits.max_linear_mps:.2f} m/s, {limits.max_linear_accel_mps2:.2f} m/s^2, "
            f"{limits.max_angular_radps:.2f} rad/s, {limits.max_angular_accel_radps2:.2f} rad/s^2)"
        )
    report = label_episodes(episodes, limits, derive=args.derive_contacts)
    for line in report.lines():
        log(f"labels: {line}")
    positives = sum(report.positive_steps.values())
    sensed = any("contact topic" in s or "bumper" in s for s in report.sources)
    if need_labels and not report.any_labels():
        why = "the bags have no contact topic and no bumper, and --derive-contacts is never"
        raise ValueError(NO_LABELS.format(why=why))
    if need_labels and positives == 0 and not sensed:
        why = f"contacts derived from motion found none in {sum(report.steps.values())} samples"
        raise ValueError(NO_LABELS.format(why=why))
    if need_labels and positives == 0:
        log("labels: no contact in these bags: the collision head only learns where none is")
    return {
        "sources": {
            source: {
                "episodes": report.sources[source],
                "steps": report.steps[source],
                "contact_steps": report.positive_steps[source],
            }
            for source in sorted(report.sources)
        },
        "events": dict(report.events),
        "unlabelled_episodes": report.unlabelled_episodes,
        "limits": None if limits is None else vars(limits),
    }


def fail(verb: str, error: Exception) -> int:
    print(f"{verb}: {error}", file=sys.stderr)
    return 2
