"""Where a checkpoint's collision AUROC is lost: which windows with a contact it ranks low.

    .venv/bin/python bench/collision_misses.py CHECKPOINT TEST_BAGS [--json out.json]

`eval` gives one number (collision-within-2s AUROC against the true contacts); this splits it.
Positive windows are grouped by when and how their contact starts: already in contact at the
window's first step, reversing into it (the forward camera cannot see behind), a touch of at
most 3 steps (0.3 s: a graze the base hardly feels). For each group: its size, how many of its
windows score below the 90th percentile of the contact-free windows (missed), its AUROC
against all contact-free windows, and the AUROC the whole set would reach were that group
ranked perfectly (the ceiling of fixing it). Figures, not a test: the test bags must carry the
simulator's contact topic.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from world_model_ros.cli.bag_input import attach_model_scans, load_bags
from world_model_ros.cli.main import build_parser
from world_model_ros.core.data.windows import WindowSet
from world_model_ros.core.evaluation.evaluate import EvalConfig, predict_windows
from world_model_ros.core.evaluation.metrics import auroc
from world_model_ros.core.model.checkpoint import load_checkpoint
from world_model_ros.core.model.latent_predictor import LatentPredictor


def groups(contacts_bh: np.ndarray, actions_bh2: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks over windows: every positive, and the kinds of contact start."""
    positive = contacts_bh.any(axis=1)
    onset = contacts_bh.argmax(axis=1)
    v_at_onset = actions_bh2[np.arange(len(onset)), onset, 0]
    return {
        "all windows with a contact": positive,
        "in contact at the first step": positive & contacts_bh[:, 0],
        "contact starting later": positive & ~contacts_bh[:, 0],
        "reversing at the contact": positive & (v_at_onset < -0.02),
        "touch of at most 3 steps": positive & (contacts_bh.sum(axis=1) <= 3),
    }


def breakdown(scores_b: np.ndarray, contacts_bh: np.ndarray, actions_bh2: np.ndarray) -> dict:
    positive = contacts_bh.any(axis=1)
    negative_scores = scores_b[~positive]
    threshold = float(np.quantile(negative_scores, 0.9))
    rows = {}
    for name, mask in groups(contacts_bh, actions_bh2).items():
        perfect = scores_b.copy()
        perfect[mask] = np.inf
        rows[name] = {
            "windows": int(mask.sum()),
            "missed": int((mask & (scores_b < threshold)).sum()),
            "auroc_vs_contact_free": auroc(
                np.r_[np.ones(mask.sum()), np.zeros(len(negative_scores))],
                np.r_[scores_b[mask], negative_scores],
            ),
            "auroc_if_ranked_perfectly": auroc(positive, np.minimum(perfect, 1e9)),
        }
    return {"auroc": auroc(positive, scores_b), "contact_free": int((~positive).sum()), **rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("bags")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    model, _ = load_checkpoint(args.checkpoint)
    bag_args = build_parser(["eval"]).parse_args(["eval", args.bags])
    episodes, _ = load_bags(
        [Path(args.bags)],
        bag_args,
        model.config.image_size,
        log=lambda *_: None,
        image_fit=model.config.image_fit,
    )
    attach_model_scans(episodes, bag_args, model.config, log=lambda *_: None)
    horizon = model.config.horizon
    windows = WindowSet(
        episodes,
        model.config.image_size,
        horizon,
        stride=5,
        image_fit=model.config.image_fit,
        history_steps=model.config.history_steps,
        scan_sectors=model.config.scan_sectors,
    )
    truth = windows.gather(torch.arange(len(windows)))
    if not bool(truth.contact_known_b.all()):
        print("collision_misses: the bags need the simulator's contact topic", file=sys.stderr)
        return 2
    with torch.no_grad():
        predicted = predict_windows(
            LatentPredictor(model, torch.device("cpu"), horizon),
            windows,
            EvalConfig(),
            model.config.dt_s,
        )
    assert predicted.collision_prob_bh is not None
    result = breakdown(
        predicted.collision_prob_bh.max(axis=1),
        truth.contacts_bh.numpy() > 0.5,
        truth.actions_bh2.numpy(),
    )
    print(f"collision AUROC {result['auroc']:.3f} ({result['contact_free']} contact-free windows)")
    print("| group | windows | missed | AUROC vs contact-free | AUROC if ranked perfectly |")
    print("|---|---|---|---|---|")
    for name, row in result.items():
        if isinstance(row, dict):
            print(
                f"| {name} | {row['windows']} | {row['missed']} | "
                f"{row['auroc_vs_contact_free']:.3f} | {row['auroc_if_ranked_perfectly']:.3f} |"
            )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
