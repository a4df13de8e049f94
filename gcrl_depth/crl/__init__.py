"""Deep contrastive RL: config, networks, losses, replay buffer, jitted trainer and the DeepCRL agent."""
