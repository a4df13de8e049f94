"""DeepCRL hyperparameters: one frozen, documented dataclass with the paper's defaults.

Derived quantities (gradient steps per iteration, resolved depths and widths, target
entropy) are computed by properties and never written back, so a config is exactly what
the user asked for and round-trips through JSON.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

from gcrl_depth.crl.engine.fused_tower import check_width
from gcrl_depth.crl.engine.losses import CONTRASTIVE_LOSSES, ENERGIES, LOGSUMEXP_PENALTY, default_target_entropy
from gcrl_depth.crl.engine.networks import ACTIVATIONS, COMPUTE_DTYPES, TOWER_KERNELS, check_depth, check_kernel_layers

MIN_ENV_STEPS_PER_UPDATE = 0.01
# Fields that shape the networks: fixed by saved parameters.
ARCHITECTURE_FIELDS = ("depth", "actor_depth", "critic_depth", "width", "actor_width", "critic_width", "repr_dim",
                       "layer_norm", "activation", "residual")
# The objective the saved critic was trained for (its representations mean nothing under another).
OBJECTIVE_FIELDS = ("energy", "contrastive_loss")
# String fields and the values each takes (the command line's choices).
CHOICES: dict[str, tuple[str, ...]] = {"compute_dtype": tuple(COMPUTE_DTYPES), "tower_kernel": TOWER_KERNELS,
                                       "activation": tuple(ACTIVATIONS), "energy": ENERGIES,
                                       "contrastive_loss": CONTRASTIVE_LOSSES}


def _real(name: str, value: Any) -> float:
    """``value`` as a float, raising a clear error unless it is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class CRLConfig:
    """Hyperparameters of deep contrastive RL (defaults: the paper's).

    Attributes:
        depth: Dense layers in the residual blocks of actor and critic (multiple of 4).
        actor_depth: overrides ``depth`` for the actor.
        critic_depth: overrides ``depth`` for both critic encoders phi and psi.
        width: hidden width of every network.
        actor_width: overrides ``width`` for the actor.
        critic_width: overrides ``width`` for the critic encoders.
        repr_dim: size of the phi / psi representations.
        remat: recompute residual-block activations in the backward pass (saves memory).
        scan_unroll: residual blocks per iteration of the loop over blocks (1: smallest
            program, fastest compile; larger: fewer loop launches, longer compile); None:
            the platform's measured default (``networks.default_unroll``).
        compute_dtype: ``"float32"`` (the paper) or ``"bfloat16"``: matmuls in bfloat16 with
            float32 parameters, LayerNorm statistics, residual sums and losses.
        tower_kernel: how the residual blocks run: ``"xla"`` (XLA ops in a loop over blocks) or
            ``"pallas"`` (one fused Pallas kernel per pass over a tower, forward and backward;
            widths a multiple of 64 up to 1024; off NVIDIA GPUs in Pallas interpret mode, slow).
            Same parameters, same numbers to float rounding; ``scan_unroll`` then has no effect.
        layer_norm: LayerNorm after every Dense layer of the towers (the paper); False is the
            paper's ablation (the LayerNorm parameters are kept but unused).
        activation: ``"swish"`` (the paper) or ``"relu"`` (its ablation).
        residual: add each residual block's input to its output (the paper); False is the
            ablation: a plain deep MLP of the same layers.
        num_envs: parallel training environments.
        unroll_length: env steps per env collected before each round of gradient steps.
        batch_size: transitions (and contrastive negatives) per gradient step.
        env_steps_per_update: env steps per gradient step; fixes the update ratio
            independently of ``batch_size`` (paper: 512 x 62 / 800 = 39.68).
        learning_rate: Adam learning rate of actor, critic and temperature.
        gamma: discount of the hindsight-goal offsets, P(t' - t = k) ~ gamma^k.
        buffer_size: replay capacity in steps per env slot.
        prefill_steps: env steps per env collected with the initial policy before training.
        target_entropy: entropy target of the temperature; None = -0.5 * action_size.
        logsumexp_penalty: weight of the critic's logsumexp^2 regulariser.
        energy: the critic's energy, its logits and Q: "l2" (the paper: -||phi - psi||),
            "l2_squared", "dot" or "cosine".
        contrastive_loss: the critic's loss: "forward" (the paper: InfoNCE over goals),
            "backward" (over state-actions), "symmetric" (their mean) or "binary_nce".
    """

    depth: int = 4
    actor_depth: int | None = None
    critic_depth: int | None = None
    width: int = 256
    actor_width: int | None = None
    critic_width: int | None = None
    repr_dim: int = 64
    remat: bool = False
    scan_unroll: int | None = None
    compute_dtype: str = "float32"
    tower_kernel: str = "xla"
    layer_norm: bool = True
    activation: str = "swish"
    residual: bool = True
    num_envs: int = 512
    unroll_length: int = 62
    batch_size: int = 512
    env_steps_per_update: float = 39.68
    learning_rate: float = 3e-4
    gamma: float = 0.99
    buffer_size: int = 10_000
    prefill_steps: int = 1_000
    target_entropy: float | None = None
    logsumexp_penalty: float = LOGSUMEXP_PENALTY
    energy: str = "l2"
    contrastive_loss: str = "forward"

    def __post_init__(self) -> None:
        check_depth(self.depth, "depth")
        for name in ("actor_depth", "critic_depth"):
            if getattr(self, name) is not None:
                check_depth(getattr(self, name), name)
        for name in ("width", "repr_dim", "num_envs", "unroll_length", "batch_size", "buffer_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("actor_width", "critic_width", "scan_unroll"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        if isinstance(self.prefill_steps, bool) or not isinstance(self.prefill_steps, int) or self.prefill_steps < 0:
            raise ValueError(f"prefill_steps must be a non-negative integer, got {self.prefill_steps!r}")
        if not isinstance(self.remat, bool):
            raise TypeError(f"remat must be True or False, got {self.remat!r}")
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(f"compute_dtype must be one of {sorted(COMPUTE_DTYPES)}, got {self.compute_dtype!r}")
        if self.tower_kernel not in TOWER_KERNELS:
            raise ValueError(f"tower_kernel must be one of {list(TOWER_KERNELS)}, got {self.tower_kernel!r}")
        for name in ("layer_norm", "residual"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {self.activation!r}")
        check_kernel_layers(self.tower_kernel, self.layer_norm, self.activation, self.residual)
        if self.tower_kernel == "pallas":
            check_width(self.resolved_actor_width, "actor width")
            check_width(self.resolved_critic_width, "critic width")
        if not 0.0 < _real("gamma", self.gamma) < 1.0:
            raise ValueError(f"gamma must lie in (0, 1), got {self.gamma!r}")
        if not _real("env_steps_per_update", self.env_steps_per_update) >= MIN_ENV_STEPS_PER_UPDATE:
            raise ValueError(f"env_steps_per_update must be at least {MIN_ENV_STEPS_PER_UPDATE} (100 gradient steps per "
                             f"env step), got {self.env_steps_per_update!r}")
        if not _real("learning_rate", self.learning_rate) > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if not _real("logsumexp_penalty", self.logsumexp_penalty) >= 0:
            raise ValueError(f"logsumexp_penalty must be non-negative, got {self.logsumexp_penalty!r}")
        for name in OBJECTIVE_FIELDS:
            if getattr(self, name) not in CHOICES[name]:
                raise ValueError(f"{name} must be one of {list(CHOICES[name])}, got {getattr(self, name)!r}")
        if self.target_entropy is not None:
            _real("target_entropy", self.target_entropy)
        if self.buffer_size < max(self.unroll_length, self.prefill_steps, 2):
            raise ValueError(
                f"buffer_size ({self.buffer_size}) must hold at least unroll_length ({self.unroll_length}) "
                f"and prefill_steps ({self.prefill_steps}) steps per env"
            )

    # ----------------------------------------------------------------- derived
    @property
    def resolved_actor_depth(self) -> int:
        return self.actor_depth if self.actor_depth is not None else self.depth

    @property
    def resolved_critic_depth(self) -> int:
        return self.critic_depth if self.critic_depth is not None else self.depth

    @property
    def resolved_actor_width(self) -> int:
        return self.actor_width if self.actor_width is not None else self.width

    @property
    def resolved_critic_width(self) -> int:
        return self.critic_width if self.critic_width is not None else self.width

    @property
    def env_steps_per_iteration(self) -> int:
        """Env steps collected per training iteration (all envs)."""
        return self.num_envs * self.unroll_length

    @property
    def prefill_env_steps(self) -> int:
        """Env steps (all envs) collected by the prefill before the first gradient step."""
        return self.prefill_steps * self.num_envs

    @property
    def updates_per_iteration(self) -> int:
        """Gradient steps after each collection: at least one, ratio fixed by ``env_steps_per_update``."""
        return max(1, math.floor(self.env_steps_per_iteration / self.env_steps_per_update + 0.5))

    def entropy_target(self, action_size: int) -> float:
        """``target_entropy``, or the paper's ``-0.5 * action_size``."""
        return self.target_entropy if self.target_entropy is not None else default_target_entropy(action_size)

    # ----------------------------------------------------------------- I/O
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CRLConfig:
        """Build from a dict, rejecting unknown keys with the list of known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"unknown DeepCRL config options {unknown}; expected some of {sorted(known)}")
        return cls(**values)


# Named overrides of the defaults. "tiny": a smoke size that trains in seconds (4 envs, width 16,
# batch 8; what the tests use); "cpu": sized for a 2-core CPU (32 envs, width 128, batch 256,
# one gradient step per 16 env steps, a 4,000-step buffer); "paper": the defaults themselves.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"width": 16, "repr_dim": 8, "num_envs": 4, "unroll_length": 5, "batch_size": 8, "env_steps_per_update": 10.0,
             "buffer_size": 64, "prefill_steps": 10},
    "cpu": {"width": 128, "num_envs": 32, "unroll_length": 62, "batch_size": 256, "env_steps_per_update": 16.0,
            "buffer_size": 4000, "prefill_steps": 200},
    "paper": {},
}
