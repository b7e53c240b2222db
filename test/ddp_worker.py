"""One rank of the data-parallel tests (test_distributed.py): trains the small model of
test_training.py on synthetic episodes and writes its final weights to ``<out>/rank<r>.pt``.
Started by torchrun (or plainly, as a world of one)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_episodes import make_episode  # noqa: E402

from world_model_ros.core.data.windows import WindowSet  # noqa: E402
from world_model_ros.core.model.latent_model import LatentModelConfig  # noqa: E402
from world_model_ros.core.training import distributed  # noqa: E402
from world_model_ros.core.training.train_config import TrainConfig  # noqa: E402
from world_model_ros.core.training.trainer import train  # noqa: E402

SMALL = LatentModelConfig(
    image_size=32, encoder_channels=(8, 16), image_features=32, latent_dim=16, hidden_dim=32
)
CONFIG = TrainConfig(
    model=SMALL,
    steps=12,
    batch_size=8,
    warmup_steps=3,
    validate_every=6,
    num_threads=1,
    learning_rate=3e-3,
    rest_start_weight=2.0,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--stop-at", type=int, default=0, help="Ctrl-C after this step")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    dist, device = distributed.init_distributed(torch.device("cpu"))
    episodes = [make_episode(seed, steps=45) for seed in range(4)]
    windows = WindowSet(episodes[:3], 32, 20)
    val = WindowSet(episodes[3:], 32, 20)

    def stop(step, parts):
        if step == args.stop_at:
            raise KeyboardInterrupt

    try:
        result = train(
            windows,
            val,
            dataclasses.replace(CONFIG),
            args.out,
            device,
            progress=False,
            resume=args.resume,
            on_step=stop,
            dist=dist,
        )
        torch.save(result.model.state_dict(), args.out / f"rank{dist.rank}.pt")
    except KeyboardInterrupt:
        pass
    finally:
        distributed.shutdown(dist)


if __name__ == "__main__":
    main()
