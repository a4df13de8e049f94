"""Deep contrastive RL: networks and losses (the trainer and the DeepCRL agent build on them)."""
