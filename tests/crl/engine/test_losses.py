"""CRL losses on small hand-computed cases, and every energy and contrastive loss against NumPy."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl_depth.crl.engine.losses import (
    CONTRASTIVE_LOSSES,
    ENERGIES,
    actor_loss,
    alpha_loss,
    critic_loss,
    default_target_entropy,
    energy,
    pairwise_logits,
)


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


def numpy_energy(phi, psi, kind):
    """The energies written out in NumPy, for a (b, B) logit matrix."""
    difference = phi[:, None, :] - psi[None, :, :]
    if kind == "l2":
        return -np.sqrt((difference**2).sum(-1))
    if kind == "l2_squared":
        return -(difference**2).sum(-1)
    dot = phi @ psi.T
    if kind == "dot":
        return dot
    return dot / np.outer(np.linalg.norm(phi, axis=1), np.linalg.norm(psi, axis=1))


def numpy_contrastive(logits, kind):
    """The contrastive losses written out in NumPy, positives on the diagonal."""

    def log_softmax(x, axis):
        shifted = x - x.max(axis=axis, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    forward = -np.mean(np.diag(log_softmax(logits, 1)))
    backward = -np.mean(np.diag(log_softmax(logits, 0)))
    if kind == "binary_nce":
        labels = np.eye(len(logits))
        probability = 1 / (1 + np.exp(-logits))
        return -np.mean(labels * np.log(probability) + (1 - labels) * np.log(1 - probability))
    return {"forward": forward, "backward": backward, "symmetric": (forward + backward) / 2}[kind]


@pytest.mark.parametrize("kind", ENERGIES)
@pytest.mark.parametrize("contrastive", CONTRASTIVE_LOSSES)
def test_every_energy_and_contrastive_loss_against_numpy(kind, contrastive):
    rng = np.random.default_rng(0)
    phi, psi = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    logits = numpy_energy(phi, psi, kind)
    np.testing.assert_allclose(pairwise_logits(jnp.asarray(phi), jnp.asarray(psi), kind), logits, rtol=1e-5, atol=1e-5)
    loss, metrics = critic_loss(jnp.asarray(phi), jnp.asarray(psi), 0.1, 0, kind, contrastive)
    lse = np.log(np.exp(logits).sum(axis=1))
    np.testing.assert_allclose(metrics["infonce"], numpy_contrastive(logits, contrastive), rtol=1e-5)
    np.testing.assert_allclose(loss, numpy_contrastive(logits, contrastive) + 0.1 * np.mean(lse**2), rtol=1e-5)
    np.testing.assert_allclose(energy(jnp.asarray(phi), jnp.asarray(psi), kind), np.diag(logits), rtol=1e-5, atol=1e-5)


def test_backward_infonce_normalises_over_the_rows_of_each_goal():
    phi = jnp.array([[0.0, 0.0], [10.0, 0.0]])
    psi = jnp.array([[0.0, 0.0], [0.0, 0.0]])
    # goal column 1's positive (row 1) is 10 away while row 0 is at distance 0: backward sees it, forward does not
    _, forward = critic_loss(phi, psi, contrastive="forward")
    _, backward = critic_loss(phi, psi, contrastive="backward")
    np.testing.assert_allclose(backward["infonce"], (math.log(1 + math.exp(-10)) + math.log(1 + math.exp(-10)) + 10) / 2,
                               rtol=1e-5)
    assert float(backward["infonce"]) > float(forward["infonce"])


def test_unknown_variants_are_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"energy must be one of \['l2', 'l2_squared', 'dot', 'cosine'\]"):
        energy(jnp.ones(2), jnp.ones(2), "l1")
    with pytest.raises(ValueError, match="contrastive_loss must be one of"):
        critic_loss(jnp.ones((2, 2)), jnp.ones((2, 2)), contrastive="nce")
