"""Core layer: model math, data and evaluation in plain PyTorch/NumPy. Never imports rclpy."""
