"""The project's residual tower in torch, as an SB3 features extractor (baselines with depth).

Input projection Dense(W) -> LayerNorm -> swish, then ``depth // 4`` blocks of
4 x (Dense -> LayerNorm -> swish) with the block input added after the 4th swish: the
same architecture as :mod:`gcrl_depth.crl.engine.networks`, on concat(observation, desired_goal).
"""

from __future__ import annotations

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from gcrl_depth.crl.engine.networks import BLOCK_SIZE


def _layer(in_features: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, width), nn.LayerNorm(width), nn.SiLU())


class ResidualBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(*[_layer(width, width) for _ in range(BLOCK_SIZE)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class GoalResidualExtractor(BaseFeaturesExtractor):
    """Features of a Dict observation: the residual tower on (observation, desired_goal)."""

    def __init__(self, observation_space: spaces.Dict, depth: int = 4, width: int = 256) -> None:
        super().__init__(observation_space, features_dim=width)
        in_features = observation_space["observation"].shape[0] + observation_space["desired_goal"].shape[0]
        self.tower = nn.Sequential(_layer(in_features, width), *[ResidualBlock(width) for _ in range(depth // BLOCK_SIZE)])

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.tower(torch.cat([observations["observation"], observations["desired_goal"]], dim=-1))
