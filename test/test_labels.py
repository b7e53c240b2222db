"""Contact labels from commanded vs measured motion (core/data/labels.py) and the costmap
labels from the robot's experience (core/data/occupancy_labels.py), on hand-made episodes:
a stall is a contact, a stop command is not, nor is a start from rest within the limits."""

from __future__ import annotations

import numpy as np
import pytest

from world_model_ros.core.data.episodes import Episode
from world_model_ros.core.data.label_quality import compare_labels
from world_model_ros.core.data.labels import (
    BaseLimits,
    derive_contacts,
    estimate_limits,
    label_episodes,
)
from world_model_ros.core.data.occupancy_labels import (
    FREE,
    OCCUPIED,
    UNKNOWN,
    Scan,
    build_label_grid,
)

DT = 0.1
LIMITS = BaseLimits(max_linear_mps=0.5, max_linear_accel_mps2=1.0)


def drive(commands_t2: np.ndarray, wall_x: float | None = None) -> Episode:
    """A base tracking (v, w) at LIMITS' acceleration, starting along +x; a wall at ``wall_x``
    stops it dead. The truth (touching the wall) is in metadata["truth"]."""
    count = len(commands_t2)
    poses, twists, touching = np.zeros((count, 3)), np.zeros((count, 2)), np.zeros(count, bool)
    v = w = 0.0
    x = y = yaw = 0.0
    sub = 10
    for t in range(count):
        poses[t], twists[t] = (x, y, yaw), (v, w)
        touching[t] = wall_x is not None and x >= wall_x - 1e-6
        for _ in range(sub):
            target_v, target_w = commands_t2[t]
            target_v = float(np.clip(target_v, -0.5, 0.5))
            v += np.clip(target_v - v, -1.0 * DT / sub, 1.0 * DT / sub)
            w += np.clip(target_w - w, -4.0 * DT / sub, 4.0 * DT / sub)
            x_next = x + v * np.cos(yaw) * DT / sub
            if wall_x is not None and x_next >= wall_x:
                x_next, v = wall_x, 0.0
            x, y, yaw = x_next, y + v * np.sin(yaw) * DT / sub, yaw + w * DT / sub
    return Episode(
        dt_s=DT,
        stamps_s=np.arange(count) * DT,
        images_thw3=np.zeros((count, 4, 4, 3), np.uint8),
        poses_t3=poses,
        twists_t2=twists,
        commands_t2=np.asarray(commands_t2, dtype=np.float64),
        metadata={"truth": touching},
    )


def commands(*segments: tuple[float, float, float]) -> np.ndarray:
    """(seconds, v, w) segments -> [T, 2] commands."""
    return np.concatenate(
        [np.tile([v, w], (int(round(s / DT)), 1)) for s, v, w in segments]
    ).astype(np.float64)


def test_a_stall_against_a_wall_is_a_contact():
    episode = drive(commands((1.0, 0.0, 0.0), (4.0, 0.4, 0.0)), wall_x=0.6)
    labels, cues = derive_contacts(episode, LIMITS)
    truth = episode.metadata["truth"]
    assert truth.sum() > 10
    scores = compare_labels([labels], [truth])
    assert scores["event_recall"] == 1.0 and scores["step_recall"] > 0.8
    assert scores["step_precision"] > 0.9
    assert cues["impact"].any()  # it hit the wall at speed


def test_a_stop_command_and_a_start_from_rest_are_not_contacts():
    stop_and_go = commands(
        (1.0, 0.4, 0.0),  # cruise
        (0.5, 0.0, 0.0),  # a zero step: braking at the limit is what it was told
        (2.0, 0.0, 0.0),  # standing still under a zero command
        (2.0, 0.5, 0.0),  # full-speed start from rest: slow, not blocked
        (1.5, 0.1, 1.5),  # an arc
        (1.0, 0.0, -2.0),  # a turn on the spot
    )
    labels, _ = derive_contacts(drive(stop_and_go), LIMITS)
    assert not labels.any()


def test_blocked_turning_is_a_contact():
    episode = drive(commands((0.5, 0.0, 0.0), (3.0, 0.0, 1.5)))
    episode.poses_t3[:, 2] = 0.0  # the heading does not change: something holds the base
    episode.twists_t2[:, 1] = 0.0
    labels, _ = derive_contacts(episode, LIMITS)
    assert labels[10:].mean() > 0.8


def test_label_sources_are_reported_and_a_bumper_joins_in():
    with_truth = drive(commands((3.0, 0.3, 0.0)), wall_x=0.5)
    with_truth.contacts_t = with_truth.metadata["truth"].copy()
    derived = drive(commands((3.0, 0.3, 0.0)), wall_x=0.5)
    bumped = drive(commands((3.0, 0.2, 0.0)))
    bumped.metadata["bumper_t"] = np.zeros(len(bumped), bool)
    bumped.metadata["bumper_t"][5:8] = True
    report = label_episodes([with_truth, derived, bumped], LIMITS)
    assert report.sources == {
        "contact topic": 1,
        "derived from motion": 1,
        "derived from motion + bumper": 1,
    }
    assert report.positive_steps["contact topic"] == with_truth.metadata["truth"].sum()
    assert bumped.contacts_t[5:8].all() and report.events["bumper"] == 1
    assert derived.metadata["contact_source"] == "derived from motion"
    lines = "\n".join(report.lines())
    assert "contact topic: 1 episode(s)" in lines and "labelled contact" in lines
    # never: no labels at all where the bags have none
    plain = drive(commands((2.0, 0.3, 0.0)))
    report = label_episodes([plain], LIMITS, derive="never")
    assert plain.contacts_t is None and not report.any_labels()


def test_limits_are_estimated_from_the_bags():
    episode = drive(commands((1.0, 0.0, 0.0), (3.0, 0.5, 0.0), (1.0, -0.3, 0.0)))
    limits = estimate_limits([episode])
    assert limits.max_linear_mps == pytest.approx(0.5, abs=0.03)
    assert 0.5 < limits.max_linear_accel_mps2 < 1.6


def test_costmap_labels_free_along_the_path_occupied_where_it_was_blocked():
    episode = drive(commands((1.0, 0.0, 0.0), (4.0, 0.4, 0.0)), wall_x=1.0)
    episode.contacts_t, _ = derive_contacts(episode, LIMITS)
    radius = 0.2
    grid = build_label_grid([episode], radius)
    on_path = grid.lookup(np.array([[0.2, 0.0], [0.6, 0.0]]))
    beyond_wall = grid.lookup(np.array([[1.0 + radius + 0.05, 0.0]]))  # C-space: the surface
    assert (on_path == FREE).all()  # plus the robot's radius is occupied
    assert beyond_wall[0] == OCCUPIED
    assert grid.lookup(np.array([[0.5, 1.5]]))[0] == UNKNOWN  # never seen: not guessed
    assert grid.counts["blocked_pushes"] > 0


def test_a_felt_push_stays_occupied_under_scans_that_pass_over_it():
    """A box lower than the LiDAR's plane: the beams cross it to a wall behind, the body was
    blocked by it. The push is the evidence at the body's height; the beams do not clear it."""
    episode = drive(commands((1.0, 0.0, 0.0), (4.0, 0.4, 0.0)), wall_x=1.0)
    episode.contacts_t, _ = derive_contacts(episode, LIMITS)
    angles = np.linspace(-0.5, 0.5, 41)
    over = [  # the robot comes by often: many more beams than pushes cross the box
        Scan(np.array([x, 0.0, 0.0]), angles, (3.0 - x) / np.cos(angles))  # the far wall
        for x in np.asarray(episode.poses_t3)[:, 0]
    ] * 20
    radius = 0.2
    surface = np.array([[1.0 + radius + 0.05, 0.0]])
    with_scans = build_label_grid([episode], radius, over)
    assert with_scans.lookup(surface)[0] == OCCUPIED
    # the beams did speak: more floor labelled free than the path alone gives
    assert (
        with_scans.counts["free_cells"] > build_label_grid([episode], radius).counts["free_cells"]
    )
