"""Fitting the latent world model to windows of recorded data (``trainer``) and, on its frozen
encoder, the occupancy head (``occupancy``); both write checkpoints the model layer loads."""
