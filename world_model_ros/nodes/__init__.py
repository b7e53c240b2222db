"""Thin rclpy nodes: convert messages to arrays, call the core layer, convert back."""
