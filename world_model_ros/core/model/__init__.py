"""Predictors behind one contract: ``encode(observation) -> latent`` and ``rollout(latent,
actions[B, H, 2]) -> states``, batched on one device. The kinematic baseline and the learned
latent model both implement it (``contract``); ``registry`` loads either by name, ``checkpoint``
reads and checks the learned model's files, ``fast_path`` and ``onnx_backend`` are the inference
engines the twin serves with, and ``occupancy_head`` says which cells around the robot are
blocked."""
