"""The learner (parameters, temperature, optimizer state) and its gradient step, as pure functions.

One gradient step computes ONE gradient of the sum of the three losses over all parameters:

* critic: InfoNCE + logsumexp penalty on (phi(s, a), psi(g)); it does not depend on the
  actor's parameters;
* actor: ``alpha * log_pi(a_pi | s, g) - Q(s, a_pi, g)`` with the critic frozen
  (``stop_gradient`` on its parameters and on psi(g)) and alpha a constant;
* temperature: ``alpha * stop_gradient(-log_pi - target_entropy)`` on ``log_alpha``.

Each loss reaches only its own parameters, so this equals the paper's order (actor and
temperature updated first, then the critic, all from the same parameters and minibatch)
exactly in exact arithmetic; ``tests/crl/engine/test_learner.py`` checks it to float tolerance.
psi(g) is computed once and serves both losses; phi(s, a), psi(g) and the frozen
phi(s, a_pi) run as one stacked tower (:func:`~gcrl_depth.crl.engine.networks.encode_with_policy`).
Adam is elementwise, so one Adam state over all parameters equals three separate ones.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from gcrl_depth.crl.engine.buffer import Transition
from gcrl_depth.crl.engine.losses import actor_loss, alpha_loss, critic_loss, energy
from gcrl_depth.crl.engine.networks import (
    ActorParams,
    CriticParams,
    TowerSpec,
    actor_forward,
    encode_with_policy,
    init_actor,
    init_critic,
    sample_action,
)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Params:
    """Everything the losses differentiate: actor, critic (phi and psi stacked) and log temperature."""

    actor: ActorParams
    critic: CriticParams
    log_alpha: jax.Array  # ()


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Learner:
    """Parameters and the Adam state over all of them."""

    params: Params
    opt_state: Any

    def replace(self, **changes: Any) -> Learner:
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class LearnerSpec:
    """What shapes the learner: sizes, towers and loss settings (hashable)."""

    obs_size: int
    goal_size: int
    action_size: int
    actor: TowerSpec
    critic: TowerSpec
    repr_dim: int
    learning_rate: float
    target_entropy: float
    logsumexp_penalty: float
    energy: str = "l2"  # the critic's energy (losses.ENERGIES)
    contrastive_loss: str = "forward"  # losses.CONTRASTIVE_LOSSES
    data_axis: str | None = None  # data parallel: the mesh axis the minibatch is split over
    data_shards: int = 1  # its size

    @property
    def optimizer(self) -> optax.GradientTransformation:
        return optax.adam(self.learning_rate)


def init_learner(spec: LearnerSpec, key: jax.Array) -> Learner:
    """Fresh parameters (log_alpha = 0) and Adam state."""
    actor_key, critic_key = jax.random.split(key)
    params = Params(
        actor=init_actor(actor_key, spec.actor, spec.obs_size, spec.goal_size, spec.action_size),
        critic=init_critic(critic_key, spec.critic, spec.obs_size, spec.goal_size, spec.action_size, spec.repr_dim),
        log_alpha=jnp.zeros((), jnp.float32),
    )
    return Learner(params, spec.optimizer.init(params))


def losses(params: Params, batch: Transition, key: jax.Array, spec: LearnerSpec) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Sum of the critic, actor and temperature losses (each reaching only its own parameters), and metrics.

    Data parallel (``spec.data_axis``, inside ``shard_map`` with ``check_vma=False``): ``batch``
    is this shard's rows and the loss returned is this shard's; psi(g) of every shard is
    all-gathered, so InfoNCE still contrasts each row with all B goals (the gather's
    transpose sends each shard the gradient of its psi rows), and :func:`gradient_step`
    averages the shards' gradients: the single-device gradient. The policy's noise is drawn
    for the whole batch from the shared key and sliced, as one device would draw it.
    Metrics are averaged over shards.
    """
    mean, log_std = actor_forward(params.actor, batch.obs, batch.goal, spec.actor)
    rows, offset = batch.obs.shape[0], 0
    if spec.data_axis is None:
        noise = jax.random.normal(key, mean.shape)
    else:
        offset = jax.lax.axis_index(spec.data_axis) * rows
        noise = jax.random.normal(key, (rows * spec.data_shards, mean.shape[-1]))
        noise = jax.lax.dynamic_slice_in_dim(noise, offset, rows)
    policy_action, log_prob = sample_action(mean, log_std, noise=noise)
    phi, psi, phi_policy = encode_with_policy(params.critic, batch.obs, batch.action, policy_action, batch.goal, spec.critic)
    goals = psi if spec.data_axis is None else jax.lax.all_gather(psi, spec.data_axis, tiled=True)  # (B, D)
    critic, critic_metrics = critic_loss(phi, goals, spec.logsumexp_penalty, offset, spec.energy, spec.contrastive_loss)
    q_value = energy(phi_policy, jax.lax.stop_gradient(psi), spec.energy)
    actor, actor_metrics = actor_loss(log_prob, q_value, jnp.exp(params.log_alpha))
    alpha, alpha_metrics = alpha_loss(params.log_alpha, log_prob, spec.target_entropy)
    metrics = {**actor_metrics, **alpha_metrics, **critic_metrics, "valid_goal_fraction": jnp.mean(batch.valid)}
    if spec.data_axis is not None:
        metrics = jax.lax.pmean(metrics, spec.data_axis)
    return critic + actor + alpha, {f"train/{k}": v for k, v in metrics.items()}


def apply_gradients(learner: Learner, grads: Params, spec: LearnerSpec) -> Learner:
    updates, opt_state = spec.optimizer.update(grads, learner.opt_state, learner.params)
    return Learner(optax.apply_updates(learner.params, updates), opt_state)


def gradient_step(learner: Learner, batch: Transition, key: jax.Array, spec: LearnerSpec) -> tuple[Learner, dict[str, jax.Array]]:
    """One gradient step of actor, temperature and critic on one minibatch; ``key`` draws a_pi."""
    grads, metrics = jax.grad(losses, has_aux=True)(learner.params, batch, key, spec)
    if spec.data_axis is not None:
        grads = jax.lax.pmean(grads, spec.data_axis)  # the mean over shards of the shard losses' gradients
    return apply_gradients(learner, grads, spec), metrics
