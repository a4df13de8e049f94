"""The gradient step: one gradient over actor, temperature and critic equals the paper's sequential order."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gcrl_depth.crl.engine.buffer import Transition
from gcrl_depth.crl.engine.learner import LearnerSpec, gradient_step, init_learner
from gcrl_depth.crl.engine.losses import actor_loss, alpha_loss, critic_loss, l2_distance
from gcrl_depth.crl.engine.networks import TowerSpec, actor_forward, encode, sample_action

SPEC = LearnerSpec(obs_size=5, goal_size=3, action_size=2, actor=TowerSpec(8, 32), critic=TowerSpec(8, 32), repr_dim=16,
                   learning_rate=3e-3, target_entropy=-1.0, logsumexp_penalty=0.1)


def minibatch(seed, n=64):
    k = jax.random.split(jax.random.key(seed), 3)
    return Transition(obs=jax.random.normal(k[0], (n, 5)), action=jnp.tanh(jax.random.normal(k[1], (n, 2))),
                      goal=jax.random.normal(k[2], (n, 3)), offset=jnp.ones(n, jnp.int32), valid=jnp.ones(n, bool))


def sequential_step(actor, critic, log_alpha, opts, batch, key):
    """The paper's order, written out: actor, then temperature, then critic, each its own gradient and Adam."""
    adam = optax.adam(SPEC.learning_rate)

    def actor_objective(actor):
        mean, log_std = actor_forward(actor, batch.obs, batch.goal, SPEC.actor)
        policy_action, log_prob = sample_action(mean, log_std, key)
        phi, psi = encode(critic, batch.obs, policy_action, batch.goal, SPEC.critic)
        return actor_loss(log_prob, -l2_distance(phi, psi), jnp.exp(log_alpha))[0], log_prob

    (_, log_prob), actor_grads = jax.value_and_grad(actor_objective, has_aux=True)(actor)
    alpha_grad = jax.grad(lambda a: alpha_loss(a, log_prob, SPEC.target_entropy)[0])(log_alpha)
    critic_grads = jax.grad(lambda c: critic_loss(*encode(c, batch.obs, batch.action, batch.goal, SPEC.critic),
                                                  SPEC.logsumexp_penalty)[0])(critic)
    new = []
    for params, grads, opt in zip((actor, log_alpha, critic), (actor_grads, alpha_grad, critic_grads), opts):
        updates, opt = adam.update(grads, opt, params)
        new.append((optax.apply_updates(params, updates), opt))
    (actor, actor_opt), (log_alpha, alpha_opt), (critic, critic_opt) = new
    return actor, critic, log_alpha, (actor_opt, alpha_opt, critic_opt)


def test_one_gradient_equals_the_sequential_updates_over_two_steps():
    learner = init_learner(SPEC, jax.random.key(0))
    p = learner.params
    adam = optax.adam(SPEC.learning_rate)
    actor, critic, log_alpha = p.actor, p.critic, p.log_alpha
    opts = (adam.init(actor), adam.init(log_alpha), adam.init(critic))
    step = jax.jit(lambda lrn, b, k: gradient_step(lrn, b, k, SPEC))
    for seed in (1, 2):
        batch, key = minibatch(seed), jax.random.key(10 + seed)
        learner, metrics = step(learner, batch, key)
        actor, critic, log_alpha, opts = jax.jit(sequential_step)(actor, critic, log_alpha, opts, batch, key)
        for name, ours, theirs in (("actor", learner.params.actor, actor), ("critic", learner.params.critic, critic),
                                   ("log_alpha", learner.params.log_alpha, log_alpha)):
            for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert not np.allclose(learner.params.log_alpha, 0.0)  # the temperature moved


def test_critic_gradient_ignores_the_actor_loss_and_actor_gradient_ignores_the_critic_loss():
    from gcrl_depth.crl.engine.learner import losses

    learner = init_learner(SPEC, jax.random.key(0))
    batch, key = minibatch(3), jax.random.key(4)
    grads = jax.grad(lambda p: losses(p, batch, key, SPEC)[0])(learner.params)
    critic_only = jax.grad(lambda c: critic_loss(*encode(c, batch.obs, batch.action, batch.goal, SPEC.critic),
                                                 SPEC.logsumexp_penalty)[0])(learner.params.critic)
    for a, b in zip(jax.tree_util.tree_leaves(grads.critic), jax.tree_util.tree_leaves(critic_only)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
