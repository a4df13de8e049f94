"""CRL losses on small hand-computed cases."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from gcrl_depth.crl.engine.losses import actor_loss, alpha_loss, critic_loss, default_target_entropy, pairwise_logits


def test_logits_are_negative_l2_not_squared():
    phi = jnp.array([[0.0, 0.0], [3.0, 4.0]])
    psi = jnp.array([[0.0, 0.0], [0.0, 4.0]])
    np.testing.assert_allclose(pairwise_logits(phi, psi), [[0.0, -4.0], [-5.0, -3.0]], atol=1e-5)


def test_critic_loss_by_hand():
    phi = jnp.array([[0.0, 0.0], [3.0, 4.0]])
    psi = jnp.array([[0.0, 0.0], [0.0, 4.0]])
    # rows: [0, -4] and [-5, -3]; positives on the diagonal
    lse0, lse1 = math.log(1 + math.exp(-4)), math.log(math.exp(-5) + math.exp(-3))
    infonce = ((lse0 - 0.0) + (lse1 + 3.0)) / 2
    penalty = 0.1 * (lse0**2 + lse1**2) / 2
    loss, metrics = critic_loss(phi, psi)
    np.testing.assert_allclose(loss, infonce + penalty, rtol=1e-5)
    np.testing.assert_allclose(metrics["infonce"], infonce, rtol=1e-5)
    np.testing.assert_allclose(metrics["logsumexp_penalty"], penalty, rtol=1e-5)
    assert float(metrics["categorical_accuracy"]) == 1.0
    np.testing.assert_allclose(metrics["logits_negative"], (-4.0 - 5.0) / 2, rtol=1e-5)


def test_critic_loss_is_forward_only_softmax_over_goals():
    phi = jnp.array([[0.0, 0.0], [0.0, 0.0]])
    psi = jnp.array([[0.0, 0.0], [10.0, 0.0]])
    # row 0 is easy; row 1's positive is 10 away while goal 0 is at distance 0
    _, metrics = critic_loss(phi, psi)
    row1 = math.log(1 + math.exp(-10)) + 10.0  # -log softmax of the positive in row 1
    np.testing.assert_allclose(metrics["infonce"], (math.log(1 + math.exp(-10)) + row1) / 2, rtol=1e-5)
    assert float(metrics["categorical_accuracy"]) == 0.5


def test_critic_gradient_is_finite_when_representations_coincide():
    grads = jax.grad(lambda p: critic_loss(p, p)[0])(jnp.ones((3, 4)))
    assert bool(jnp.isfinite(grads).all())


def test_actor_and_alpha_losses_by_hand():
    log_prob, q_value = jnp.array([-1.0, -3.0]), jnp.array([-2.0, -4.0])
    loss, metrics = actor_loss(log_prob, q_value, alpha=jnp.asarray(0.5))
    np.testing.assert_allclose(loss, ((0.5 * -1 + 2) + (0.5 * -3 + 4)) / 2)
    np.testing.assert_allclose(metrics["entropy"], 2.0)
    target = default_target_entropy(4)
    assert target == -2.0
    loss, metrics = alpha_loss(jnp.log(0.5), log_prob, target)
    np.testing.assert_allclose(loss, 0.5 * ((1 + 2) + (3 + 2)) / 2, rtol=1e-6)
    # entropy (2.0) above target (-2.0): gradient lowers log_alpha
    assert float(jax.grad(lambda la: alpha_loss(la, log_prob, target)[0])(jnp.log(0.5))) > 0


def test_actor_loss_does_not_backpropagate_into_alpha():
    grad = jax.grad(lambda a: actor_loss(jnp.array([-1.0]), jnp.array([0.0]), a)[0])(jnp.asarray(0.3))
    assert float(grad) == 0.0
