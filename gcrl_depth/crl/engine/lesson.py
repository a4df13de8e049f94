"""Learning from another agent (the *peer*): the engine's one seam for distillation and for the
paper's collector/learner experiment.

A :class:`Lesson` (a frozen value of the :class:`~gcrl_depth.crl.engine.train.Engine`) says

* who acts in the envs: the learner itself (``acting="learner"``: its own rollouts, labelled by
  the peer, DAgger style) or the peer (``"peer"``: fresh rollouts of another policy; the
  learner never acts);
* whether the peer learns too (``peer_learns``: the collector of the collector/learner
  experiment trains by plain CRL on the same minibatches; a teacher is frozen);
* what the learner minimises: the distillation terms of :mod:`~gcrl_depth.crl.engine.distillation`
  against the peer's outputs on each minibatch, and the ordinary CRL losses with weight
  ``crl_weight`` (kickstarting: both, the distillation weight annealed to 0 over
  ``anneal_updates`` gradient steps).

The peer's parameters ride in the training state (``TrainState.peer``), so jit, vmap over runs and
checkpoints of the learner see one pytree. Every minibatch comes from the run's replay buffer
with its goal relabelling, as the learner's own would.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

from gcrl_depth.crl.engine.buffer import Transition
from gcrl_depth.crl.engine.config import CRLConfig
from gcrl_depth.crl.engine.distillation import (
    ACTOR_LOSSES,
    actor_distillation,
    critic_distillation,
    embedding_distillation,
)
from gcrl_depth.crl.engine.learner import Learner, LearnerSpec, Params, apply_gradients, losses
from gcrl_depth.crl.engine.losses import pairwise_logits
from gcrl_depth.crl.engine.networks import actor_forward, encode

ACTING = ("learner", "peer")  # who steps the envs during a lesson


@dataclasses.dataclass(frozen=True)
class Lesson:
    """How a learner learns from a peer (see the module docstring); hashable, a static part of the engine.

    Attributes:
        peer: the peer's config (its architecture; with ``peer_learns``, its training settings too).
        acting: ``"learner"`` (own rollouts) or ``"peer"`` (the peer's rollouts).
        peer_learns: the peer trains by plain CRL on the same minibatches (a collector).
        actor_loss: ``"kl"`` or ``"regression"`` (:data:`~gcrl_depth.crl.engine.distillation.ACTOR_LOSSES`).
        actor_weight, critic_weight, embedding_weight: weights of the distillation terms (0 drops one).
        crl_weight: weight of the learner's ordinary CRL losses (critic, actor, temperature).
        anneal_updates: gradient steps over which the distillation weights fall linearly to 0
            (0: they stay).
    """

    peer: CRLConfig
    acting: str = "learner"
    peer_learns: bool = False
    actor_loss: str = "kl"
    actor_weight: float = 1.0
    critic_weight: float = 1.0
    embedding_weight: float = 0.0
    crl_weight: float = 0.0
    anneal_updates: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.peer, CRLConfig):
            raise TypeError(f"peer must be a CRLConfig, got {type(self.peer).__name__}")
        if self.acting not in ACTING:
            raise ValueError(f"acting must be one of {list(ACTING)}, got {self.acting!r}")
        if not isinstance(self.peer_learns, bool):
            raise TypeError(f"peer_learns must be True or False, got {self.peer_learns!r}")
        if self.actor_loss not in ACTOR_LOSSES:
            raise ValueError(f"actor_loss must be one of {list(ACTOR_LOSSES)}, got {self.actor_loss!r}")
        for name in ("actor_weight", "critic_weight", "embedding_weight", "crl_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if isinstance(self.anneal_updates, bool) or not isinstance(self.anneal_updates, int) or self.anneal_updates < 0:
            raise ValueError(f"anneal_updates must be a non-negative integer, got {self.anneal_updates!r}")
        if not (self.distills or self.crl_weight):
            raise ValueError("a lesson needs something to learn: a distillation weight or crl_weight above 0")

    @property
    def distills(self) -> bool:
        """Whether any distillation term has a weight."""
        return bool(self.actor_weight or self.critic_weight or self.embedding_weight)

    def record(self) -> dict[str, Any]:
        """The lesson's settings as JSON (the peer as its architecture)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "peer"}
        return {**fields, "peer": self.peer.to_dict()}

    def distillation_scale(self, updates_done: jax.Array) -> jax.Array:
        """The factor on the distillation terms after ``updates_done`` gradient steps: 1, or annealed to 0."""
        if not self.anneal_updates:
            return jnp.ones((), jnp.float32)
        return jnp.clip(1.0 - updates_done.astype(jnp.float32) / self.anneal_updates, 0.0, 1.0)


def lesson_losses(params: Params, batch: Transition, key: jax.Array, spec: LearnerSpec, peer: Params,
                  peer_spec: LearnerSpec, lesson: Lesson, scale: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The learner's lesson loss on one minibatch: ``crl_weight`` x CRL losses + ``scale`` x the
    weighted distillation terms against ``peer``'s outputs; and its metrics (``train/...``)."""
    total, metrics = jnp.zeros((), jnp.float32), {}
    if lesson.crl_weight:
        crl, metrics = losses(params, batch, key, spec)
        total = lesson.crl_weight * crl
    if not lesson.distills:
        return total, metrics
    peer = jax.lax.stop_gradient(peer)
    terms = {}
    if lesson.actor_weight:
        terms["actor"] = (lesson.actor_weight, actor_distillation(
            actor_forward(params.actor, batch.obs, batch.goal, spec.actor),
            actor_forward(peer.actor, batch.obs, batch.goal, peer_spec.actor), lesson.actor_loss))
    if lesson.critic_weight or lesson.embedding_weight:
        student = encode(params.critic, batch.obs, batch.action, batch.goal, spec.critic)
        teacher = encode(peer.critic, batch.obs, batch.action, batch.goal, peer_spec.critic)
        if lesson.critic_weight:
            terms["critic"] = (lesson.critic_weight, critic_distillation(
                pairwise_logits(*student, spec.energy), pairwise_logits(*teacher, peer_spec.energy)))
        if lesson.embedding_weight:
            terms["embedding"] = (lesson.embedding_weight, embedding_distillation(student, teacher))
    distill = sum(weight * value for weight, value in terms.values())
    metrics = {**metrics, **{f"train/distill_{name}": value for name, (_, value) in terms.items()},
               "train/distill_scale": scale}
    return total + scale * distill, metrics


def lesson_step(learner: Learner, peer: Learner, batch: Transition, key: jax.Array, spec: LearnerSpec,
                peer_spec: LearnerSpec, lesson: Lesson, scale: jax.Array) -> tuple[Learner, dict[str, jax.Array]]:
    """One gradient step of the learner on its lesson loss (the peer unchanged)."""
    grads, metrics = jax.grad(lesson_losses, has_aux=True)(learner.params, batch, key, spec, peer.params, peer_spec,
                                                           lesson, scale)
    return apply_gradients(learner, grads, spec), metrics
