"""CRL losses as pure functions of representations and policy outputs.

* Critic: forward InfoNCE on ``logits[i, j] = -||phi_i - psi_j||_2`` (softmax over goals j
  for each state-action row i; positives on the diagonal), plus the logsumexp penalty
  ``0.1 * mean_i(logsumexp_j(logits[i, j])^2)``. No temperature.
* Actor: ``mean(alpha * log_pi(a | s, g) - Q(s, a, g))`` with ``Q = -||phi(s, a) - psi(g)||``.
* Entropy temperature: ``mean(alpha * stop_gradient(-log_pi - target_entropy))`` on
  ``log_alpha``, target entropy ``-0.5 * action_size`` by default.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

LOGSUMEXP_PENALTY = 0.1
_NORM_EPS = 1e-12  # keeps the gradient of the L2 norm finite where phi == psi


def l2_distance(x: jax.Array, y: jax.Array) -> jax.Array:
    """Euclidean distance over the last axis, with a finite gradient at zero."""
    return jnp.sqrt(jnp.sum((x - y) ** 2, axis=-1) + _NORM_EPS)


def pairwise_logits(phi: jax.Array, psi: jax.Array) -> jax.Array:
    """``logits[i, j] = -||phi_i - psi_j||``; phi: (B, D), psi: (B, D) -> (B, B)."""
    return -l2_distance(phi[:, None, :], psi[None, :, :])


def critic_loss(
    phi: jax.Array, psi: jax.Array, logsumexp_penalty: float = LOGSUMEXP_PENALTY, row_offset: jax.Array | int = 0
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Forward InfoNCE plus the logsumexp penalty over rows of phi (b, D) against all goals psi (B, D).

    Row i's positive is goal ``row_offset + i`` (0 and b == B: the diagonal; a data-parallel
    shard passes its first row's index in the gathered batch). Returns (loss, metrics),
    means over the rows given.
    """
    logits = pairwise_logits(phi, psi)  # (b, B)
    rows = jnp.arange(logits.shape[0])
    positive = row_offset + rows  # (b,)
    is_positive = jnp.arange(logits.shape[1])[None, :] == positive[:, None]
    log_softmax = jax.nn.log_softmax(logits, axis=1)
    infonce = -jnp.mean(jnp.sum(jnp.where(is_positive, log_softmax, 0.0), axis=1))
    logsumexp = jax.nn.logsumexp(logits, axis=1)
    penalty = logsumexp_penalty * jnp.mean(logsumexp**2)
    negatives = jnp.maximum(logits.size - logits.shape[0], 1)
    metrics = {
        "critic_loss": infonce + penalty,
        "infonce": infonce,
        "logsumexp_penalty": penalty,
        "categorical_accuracy": jnp.mean(jnp.argmax(logits, axis=1) == positive),
        "logits_positive": jnp.mean(jnp.sum(jnp.where(is_positive, logits, 0.0), axis=1)),
        "logits_negative": jnp.sum(jnp.where(is_positive, 0.0, logits)) / negatives,
    }
    return infonce + penalty, metrics


def actor_loss(log_prob: jax.Array, q_value: jax.Array, alpha: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """SAC-style actor loss ``mean(alpha * log_pi - Q)``; alpha is treated as a constant."""
    alpha = jax.lax.stop_gradient(alpha)
    loss = jnp.mean(alpha * log_prob - q_value)
    return loss, {"actor_loss": loss, "entropy": -jnp.mean(log_prob), "q_value": jnp.mean(q_value)}


def alpha_loss(log_alpha: jax.Array, log_prob: jax.Array, target_entropy: float) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Temperature loss ``mean(alpha * stop_gradient(-log_pi - target_entropy))``."""
    alpha = jnp.exp(log_alpha)
    loss = jnp.mean(alpha * jax.lax.stop_gradient(-log_prob - target_entropy))
    return loss, {"alpha_loss": loss, "alpha": alpha}


def default_target_entropy(action_size: int) -> float:
    """The paper's target entropy, ``-0.5 * action_size``."""
    return -0.5 * action_size
