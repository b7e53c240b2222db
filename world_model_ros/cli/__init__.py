"""The world-model-ros command line."""
