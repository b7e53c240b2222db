"""``world-model-ros eval``: a checkpoint against the baselines on held-out bags.

Example (the shipped report, docs/world_model.md):

    world-model-ros eval data/test --out world_model_ros/checkpoints/default --record

Compares the checkpoint with constant velocity, the kinematic model and the no-camera
ablation checkpoint on the same windows; writes eval_report.md/.json and two PNG plots into
``--out``. Layouts the checkpoint was trained on are refused (they would flatter it). When the
checkpoint has an occupancy head (core/model/occupancy_head.py) and the bags carry arena maps, the
head is judged too (printed, and kept in the ``occupancy`` section with ``--record``).

Bags without contact labels (a real robot's): said in one sentence, and what needs no labels
(motion, uncertainty) is reported. "Held-out" is claimed only when it can be checked: the
evaluation bags and every bag the checkpoint (and the checkpoint it was fine-tuned from) was
trained on carry layout identities, and none is shared; otherwise the report says the split is
not verified. A checkpoint adapted to another robot (a ``robot`` section,
core/model/checkpoint_robot.py) is also held to the adapted-robot targets
(core/evaluation/robot_targets.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = "evaluate a checkpoint against the baselines on held-out bags"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .bag_input import add_topic_arguments

    parser.add_argument(
        "bags", nargs="+", type=Path, help="held-out rosbag2 bags, or folders holding bags"
    )
    parser.add_argument(
        "--checkpoint", type=Path, help="checkpoint folder (default: the shipped checkpoint)"
    )
    parser.add_argument(
        "--ablation",
        default="default",
        help="no-camera ablation checkpoint folder; 'default' = the shipped one, 'none' = skip",
    )
    parser.add_argument(
        "--out",
        "-o",
        type=Path,
        default=Path("runs/eval"),
        help="report folder (default runs/eval)",
    )
    parser.add_argument("--stride", type=int, default=5, help="a window every N steps (default 5)")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.02,
        help="interpenetration tolerance in metres (default 0.02)",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    parser.add_argument(
        "--record",
        action="store_true",
        help="also store the figures in the checkpoint's config.json ('evaluation')",
    )
    parser.add_argument(
        "--allow-train-layouts",
        action="store_true",
        help="evaluate even on layouts the checkpoint was trained on (not a held-out result)",
    )
    add_topic_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..core.data.windows import WindowSet
    from ..core.evaluation.evaluate import (
        CONSTANT_VELOCITY,
        KINEMATIC,
        EvalConfig,
        evaluate,
        kinematic_baseline,
        target_figures,
    )
    from ..core.evaluation.report import write_report
    from ..core.model.checkpoint import (
        DEFAULT_CHECKPOINT,
        NO_CAMERA_CHECKPOINT,
        CheckpointError,
        load_checkpoint,
        update_config,
    )
    from ..core.model.latent_predictor import LatentPredictor
    from ..core.model.registry import resolve_device
    from .bag_input import attach_model_scans, compact_seeds, load_bags, parse_compact_seeds

    if args.stride < 1 or args.tolerance < 0:
        print("eval: need --stride >= 1 and --tolerance >= 0", file=sys.stderr)
        return 2
    try:
        device = resolve_device(args.device)
        checkpoint = args.checkpoint or DEFAULT_CHECKPOINT
        model, model_config = load_checkpoint(checkpoint)
        ablation_path = {"none": None, "default": NO_CAMERA_CHECKPOINT}.get(
            args.ablation, Path(args.ablation)
        )
        ablation = load_checkpoint(ablation_path) if ablation_path is not None else None
    except (CheckpointError, RuntimeError) as error:
        print(f"eval: {error}", file=sys.stderr)
        return 2
    dt_s, horizon = model.config.dt_s, model.config.horizon
    if abs(args.dt - dt_s) > 1e-9:
        print(f"eval: --dt {args.dt} differs from the checkpoint's dt_s {dt_s}", file=sys.stderr)
        return 2
    if ablation is not None and (ablation[0].config.dt_s, ablation[0].config.horizon) != (
        dt_s,
        horizon,
    ):
        print(
            f"eval: ablation {ablation_path} has dt/horizon "
            f"{ablation[0].config.dt_s}/{ablation[0].config.horizon}, "
            f"the checkpoint {dt_s}/{horizon}",
            file=sys.stderr,
        )
        return 2
    try:
        episodes, data_info = load_bags(
            args.bags, args, model.config.image_size, image_fit=model.config.image_fit
        )
        attach_model_scans(episodes, args, model.config, log=lambda text: print(f"eval: {text}"))
    except ValueError as error:
        print(f"eval: {error}", file=sys.stderr)
        return 2
    eval_seeds = {
        e.arena.layout_seed
        for e in episodes
        if e.arena is not None and e.arena.layout_seed is not None
    }
    unverified: list[str] = []
    if any(e.arena is None or e.arena.layout_seed is None for e in episodes):
        unverified.append("the evaluation bags carry no layout identity")
    for name, config in (
        ("checkpoint", model_config),
        ("ablation", ablation[1] if ablation else {}),
    ):
        data = config.get("training", {}).get("data", {})
        trained_on = parse_compact_seeds(data.get("layout_seeds", "")) | parse_compact_seeds(
            data.get("init_layout_seeds", "")
        )
        if data.get("bags_without_layout_identity") or data.get(
            "init_bags_without_layout_identity"
        ):
            unverified.append(f"the {name} was trained on bags without layout identity")
        leaked = sorted(eval_seeds & trained_on)
        if leaked and not args.allow_train_layouts:
            print(
                f"eval: the {name} was trained on layout seed(s) {compact_seeds(leaked)} that "
                "these bags contain; "
                "evaluate on held-out layouts (or pass --allow-train-layouts)",
                file=sys.stderr,
            )
            return 2

    learned = "latent (camera)" if model.config.use_camera else "latent (no camera)"
    models = {CONSTANT_VELOCITY: CONSTANT_VELOCITY, KINEMATIC: kinematic_baseline(dt_s, horizon)}
    ablation_name = None
    if ablation is not None:
        ablation_name = (
            "latent (no camera)"
            if not ablation[0].config.use_camera
            else f"ablation {ablation_path.name}"
        )
        models[ablation_name] = LatentPredictor(ablation[0], device, horizon, model_id="ablation")
    models[learned] = LatentPredictor(model, device, horizon, model_id="latent")
    config = EvalConfig(stride=args.stride, interpenetration_tolerance_m=args.tolerance)
    started = time.monotonic()
    windows = WindowSet(
        episodes,
        model.config.image_size,
        horizon,
        stride=args.stride,
        image_fit=model.config.image_fit,
        history_steps=max(
            [m.config.history_steps for m in models.values() if isinstance(m, LatentPredictor)],
            default=0,
        ),
        scan_sectors=model.config.scan_sectors,
    )
    try:
        with torch.no_grad():  # not set_grad_enabled(False): a caller in-process may train next
            results = evaluate(models, windows, config, dt_s)
    except ValueError as error:
        print(f"eval: {error}", file=sys.stderr)
        return 2
    targets = target_figures(results, learned, ablation_name, dt_s, horizon)
    robot_name = (model_config.get("robot") or {}).get("name")
    if robot_name and robot_name != "default":
        from ..core.evaluation.robot_targets import robot_target_figures

        targets["robot_rows"] = robot_target_figures(results, learned, dt_s, horizon)
    training = model_config.get("training", {})
    split = (
        "held-out layouts"
        if not unverified
        else "these bags (held-out NOT verified: " + "; ".join(unverified) + ")"
    )
    header = {
        "checkpoint": _display_path(checkpoint),
        "ablation": _display_path(ablation_path) if ablation_path else "none",
        "checkpoint trained on layouts": training.get("data", {}).get("layout_seeds", "unknown"),
        "training command": training.get("data", {}).get("command", "unknown"),
        "training time (min)": model_config.get("training_total", {}).get(
            "minutes", training.get("minutes", "unknown")
        ),
        "evaluated on bags": f"{len(data_info['bags'])} ({', '.join(data_info['bags'][:3])}"
        f"{', ...' if len(data_info['bags']) > 3 else ''})",
        "evaluation layouts": data_info["layout_seeds"],
        "evaluation command": "world-model-ros " + " ".join(sys.argv[1:])
        if sys.argv[1:2] == ["eval"]
        else "eval",
        "code version": model_config.get("code_version", "unknown"),
        "split": split,
    }
    paths = write_report(results, targets, args.out, header, windows, config, dt_s, learned)
    if args.record:
        summary = {
            "layouts": data_info["layout_seeds"],
            "windows": results["windows"],
            "targets": {row["target"]: row["value"] for row in targets["rows"]},
            "report": "eval_report.md",
        }
        update_config(checkpoint, evaluation=summary)
    print(
        f"eval: {results['windows']['all']} windows ({results['windows']['contact']} with "
        "contact) from "
        f"{len(episodes)} episode(s) in {time.monotonic() - started:.1f} s; split: {split}"
    )
    if not any(e.contacts_t is not None for e in episodes):
        print(
            "eval: these bags have no contact labels (no contact topic), so collision AUROC and "
            "the contact-window figures cannot be computed; motion and uncertainty are reported "
            "on all windows"
        )
    for row in targets["rows"] + targets.get("robot_rows", []):
        known = row["value"] is not None and row["value"] == row["value"]
        value = f"{row['value']:.3f}" if known else "n/a"
        verdict = {True: "met", False: "NOT met", None: "n/a"}[row["met"] if known else None]
        print(f"  {row['description']:<60} {value:>8}  {verdict}")
    occupancy = _evaluate_occupancy_head(Path(checkpoint), model, model_config, episodes, device)
    if occupancy is not None:
        print(
            "  occupancy head, cells in view within 1.5 m between the walls "
            f"({occupancy['frames']} frames): "
            f"AUROC {occupancy['auroc_in_view']:.3f}, precision "
            f"{occupancy['precision_in_view']:.3f}, "
            f"recall {occupancy['recall_in_view']:.3f} at P 0.5"
        )
        if args.record:
            update_config(
                checkpoint,
                occupancy={
                    **model_config["occupancy"],
                    "evaluation": {"layouts": data_info["layout_seeds"], **occupancy},
                },
            )
    print(f"eval: report {paths['markdown']}")
    return 0


def _evaluate_occupancy_head(
    folder: Path, model, model_config: dict, episodes, device
) -> dict | None:
    """The checkpoint's occupancy head on the held-out frames that have a map; None without
    either."""
    from ..core.model.checkpoint import load_occupancy_head
    from ..core.model.latent_predictor import LatentPredictor
    from ..core.training.occupancy import OccupancyTrainConfig, encode_frames, evaluate_head

    head = load_occupancy_head(folder, model_config, model.config.latent_dim)
    if head is None or not any(e.arena is not None for e in episodes):
        return None
    frames = encode_frames(LatentPredictor(model, device), episodes, progress=False)
    return {"frames": len(frames), **evaluate_head(head, frames, OccupancyTrainConfig())}


def _display_path(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
