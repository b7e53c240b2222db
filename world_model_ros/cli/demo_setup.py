"""What ``world-model-ros demo`` runs: the planner's settings from the planner node's YAML and
the models to drive with (the main one, the kinematic one beside it, the map-aware oracle).

Apart from the run (demo.py) because these turn flags and files into objects, each with its
own user mistakes to name (a bad YAML key, no shipped checkpoint, a checkpoint made for
another robot), and ``record --policy planner`` loads the planner settings the same way.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

REPO_CONFIG = Path(__file__).resolve().parent.parent.parent / "config" / "mpc_planner.yaml"
log = logging.getLogger("world_model_ros.demo")


def load_planner_config(path: Path | None, seed: int, samples: int | None):
    """The controller's settings from the planner node's YAML, as the demo runs them
    (``demo_controller_config``); every key is checked as the node would check it."""
    from ..core.config import ConfigError
    from ..nodes.mpc_planner_config import PlannerNodeConfig, load_planner_yaml
    from ..sim.demo_runner import demo_controller_config

    source = path if path is not None else (REPO_CONFIG if REPO_CONFIG.exists() else None)
    try:
        node = load_planner_yaml(source) if source is not None else PlannerNodeConfig()
        mppi = replace(node.controller.mppi, seed=seed)
        if samples is not None:
            mppi = replace(mppi, num_samples=samples)
        controller = replace(node.controller, mppi=mppi)
    except ConfigError as exc:
        raise SystemExit(f"demo: {exc}") from None
    return demo_controller_config(controller), source


def choose_models(args) -> list[tuple[str, object]]:
    """[(name, model)]: the main model first, then the kinematic one (unless --no-compare)."""
    from ..core.model.checkpoint import DEFAULT_CHECKPOINT
    from ..core.model.registry import ModelSpec, load_world_model

    kind = args.model
    if kind == "auto":
        shipped = (DEFAULT_CHECKPOINT / "config.json").exists() or bool(args.checkpoint)
        kind = "latent" if shipped else "kinematic"
        if kind == "kinematic":
            log.warning(
                "no shipped latent checkpoint at %s: running the demo with the KINEMATIC model "
                "only "
                "(it cannot see obstacles; train one with `world-model-ros train`)",
                DEFAULT_CHECKPOINT,
            )
    models = [
        (
            kind,
            load_world_model(ModelSpec(kind=kind, checkpoint=args.checkpoint, device=args.device)),
        )
    ]
    if kind != "kinematic" and not args.no_compare:
        main_model = models[0][1]
        models.append(
            (
                "kinematic",
                load_world_model(
                    ModelSpec(kind="kinematic", device=args.device, dt_s=main_model.dt_s)
                ),
            )
        )
    if args.oracle:
        from ..core.model.kinematic import KinematicConfig
        from ..core.model.registry import resolve_device
        from ..sim.oracle_model import MapOraclePredictor

        models.append(
            (
                "oracle",
                MapOraclePredictor(
                    KinematicConfig(dt_s=models[0][1].dt_s), resolve_device(args.device)
                ),
            )
        )
    return models


def warn_if_other_robot(model, robot) -> None:
    """One line when the checkpoint was trained for another camera or footprint than the
    simulated robot's (a demo of the default checkpoint on another robot is out of domain)."""
    from ..core.data.camera import camera_mismatch
    from ..core.model.contract import KnowsItsRobot

    if not isinstance(model, KnowsItsRobot):
        return  # the kinematic model is no robot's in particular
    text = camera_mismatch(model.camera, robot.camera_spec())
    footprint = model.footprint
    if (
        footprint is not None
        and abs(footprint.circumscribed_radius_m - robot.footprint_spec().circumscribed_radius_m)
        > 0.01
    ):
        text = (text + "; " if text else "") + (
            f"its footprint ({footprint.circumscribed_radius_m:.2f} m) is not robot "
            f"'{robot.name}''s ({robot.footprint_spec().circumscribed_radius_m:.2f} m)"
        )
    if text:
        log.warning("checkpoint vs robot '%s': %s", robot.name, text)
