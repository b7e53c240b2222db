"""Start, spin and stop a node the same way in every executable of the package.

Why not ``rclpy.init()`` + ``rclpy.spin()``: rclpy's default SIGINT handler shuts the context
down at once, from the signal handler. A callback running at that moment (a timer publishing
diagnostics, the simulator's tick) then publishes into an invalid context, ``RCLError`` leaves
``spin`` and the process exits 1 with a traceback: an operator's Ctrl-C looked like a crash,
and the tests that stop nodes failed now and then. Raising ``KeyboardInterrupt`` instead (rclpy's
handler off, Python's default) is no better: it lands in whatever Python code runs, possibly
between taking a lock and the ``try`` that releases it, and the stop then hangs. So SIGINT and
SIGTERM only set a flag; the spin loop sees it within ``POLL_S``, the node stops its own work
(a zero command, joined worker threads) while its publishers still work, and only then does
the context shut down. ``ros2 launch`` stops nodes with SIGINT, then SIGTERM: both take this path.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable, TypeVar

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from world_model_ros.nodes.graph_checks import watch_for_namesakes

NodeT = TypeVar("NodeT", bound=Node)
POLL_S = 0.1  # longest a stop request waits for the spin loop


def run_node(
    factory: Callable[[], NodeT],
    args: list[str] | None = None,
    *,
    name: str,
    stop: Callable[[NodeT], None] | None = None,
    fatal: tuple[type[BaseException], ...] = (),
) -> int:
    """Create the node, spin it on one executor thread until SIGINT/SIGTERM or an external
    shutdown, then ``stop(node)`` (while the context is still valid), destroy it and shut down.

    Exceptions in ``fatal`` (bad configuration, a model that cannot load) are logged as fatal
    under ``name`` and give exit code 1; anything else propagates with its traceback.
    """
    rclpy.init(
        args=args, signal_handler_options=SignalHandlerOptions.NO
    )  # see the module docstring
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    node = None
    try:
        node = factory()
        watch_for_namesakes(node)  # two nodes of one name: both answer every call
        # One executor thread: callbacks only store inputs; long work runs on the nodes' own
        # threads. rclpy's MultiThreadedExecutor was measured busy-polling a whole core
        # (docs/realtime.md).
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop_requested.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=POLL_S)
    except fatal as exc:
        rclpy.logging.get_logger(name).fatal(str(exc))
        return 1
    except ExternalShutdownException:
        pass
    finally:
        if node is not None:
            if stop is not None and rclpy.ok():
                stop(node)
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
