"""Embedded MuJoCo simulator (no rclpy): the stand-in for Gazebo that ships with the package."""
