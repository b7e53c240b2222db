"""world_model_node: live predictions of the robot's next states from camera + odometry.

One core class, two faces: ``WorldModelRuntime`` (``world_model_runtime.py``) holds everything
the node does (parameters, model loading and warm-up, subscriptions, the worker, diagnostics,
live error, the shadow model, reload); ``WorldModelNode`` (a plain node, ready at start) and
``WorldModelLifecycleNode`` (a managed node: configure loads and warms the model, activate
starts publishing, deactivate stops without unloading, cleanup frees the model and device)
only call its stages. This file holds those two nodes and the console-script entry points
(``world_model_node`` -> ``main``, ``world_model_lifecycle_node`` -> ``lifecycle_main``).

Where the rest lives (all in ``world_model_ros/nodes/``): ``world_model_config.py`` (the
parameters), ``model_loading.py`` (load, wrap and warm a predictor; device fallback),
``world_model_runtime.py`` (the runtime: callbacks, worker threads, reload),
``world_model_diagnostics.py`` (the ``diagnostics`` and live-error messages).
"""

from __future__ import annotations

import sys

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node

from world_model_ros.nodes.lifetime import run_node
from world_model_ros.nodes.model_loading import ModelLoadError
from world_model_ros.nodes.world_model_config import NODE_NAME, ConfigError, WorldModelNodeConfig
from world_model_ros.nodes.world_model_runtime import WorldModelRuntime


class WorldModelNode(Node):
    """The plain node: loads, warms and starts predicting in its constructor."""

    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self.runtime = WorldModelRuntime(self)
        self.runtime.configure()
        self.runtime.activate()

    @property
    def config(self) -> WorldModelNodeConfig:
        return self.runtime.config

    def shutdown(self) -> None:
        self.runtime.cleanup()


class WorldModelLifecycleNode(LifecycleNode):
    """The managed node: configure loads and warms, activate publishes, deactivate pauses,
    cleanup frees the model and the device, shutdown cleans up from any state."""

    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self.runtime = WorldModelRuntime(self)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.runtime.configure()
        except (ConfigError, ModelLoadError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.runtime.activate()
        self.get_logger().info("active: predicting")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.runtime.deactivate()
        self.get_logger().info("inactive: model loaded, not predicting")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.runtime.cleanup()
        self.get_logger().info("cleaned up: model unloaded")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.runtime.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.runtime.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def shutdown(self) -> None:
        self.runtime.cleanup()


def main(args: list[str] | None = None) -> int:
    return run_node(
        WorldModelNode,
        args,
        name=NODE_NAME,
        stop=lambda node: node.shutdown(),
        fatal=(ConfigError, ModelLoadError),
    )


def lifecycle_main(args: list[str] | None = None) -> int:
    return run_node(
        WorldModelLifecycleNode,
        args,
        name=NODE_NAME,
        stop=lambda node: node.shutdown(),
        fatal=(ConfigError, ModelLoadError),
    )


if __name__ == "__main__":
    sys.exit(main())
