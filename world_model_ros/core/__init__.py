"""The ROS-free core: plain PyTorch and NumPy, no ``rclpy`` import anywhere below this folder.

Organised by concern (docs/architecture.md draws the picture):

- ``model``: the model contract (``encode`` / ``rollout``), the kinematic baseline, the latent
  world model, its occupancy head, checkpoints and inference engines.
- ``planning``: MPPI, its critics, the occupancy map and contact memory it plans against, the
  detour out of local minima, and the goal controller that turns all of it into commands.
- ``data``: rosbag2 bags to episodes, images, and the training windows cut from them.
- ``training``: fitting the world model and its occupancy head.
- ``evaluation``: held-out metrics and reports.
- ``live``: what a running twin needs around the model: odometry sync, input checks, latency
  statistics, live error against later odometry.
- ``geometry``: planar pose math shared by all of the above.

Imports point down the list (``planning`` uses ``model``; ``model`` uses nothing but
``geometry``), so every part is testable without ROS.
"""
