"""CRL losses as pure functions of representations and policy outputs.

* Critic: forward InfoNCE on ``logits[i, j] = -||phi_i - psi_j||_2`` (softmax over goals j
  for each state-action row i; positives on the diagonal), plus the logsumexp penalty
  ``0.1 * mean_i(logsumexp_j(logits[i, j])^2)``. No temperature.
* Actor: ``mean(alpha * log_pi(a | s, g) - Q(s, a, g))`` with ``Q = -||phi(s, a) - psi(g)||``.

Those are the paper's choices and the defaults. The variants JaxGCRL's users choose from:
the critic's energy (:data:`ENERGIES`: ``l2`` the paper's, ``l2_squared``, ``dot``,
``cosine``), which is both the logits and Q, and the contrastive loss
(:data:`CONTRASTIVE_LOSSES`: ``forward`` the paper's, ``backward`` (softmax over the
state-action rows of each goal), ``symmetric`` (their mean), ``binary_nce`` (a sigmoid
cross-entropy per pair: the diagonal positive, the rest negative)). The logsumexp penalty is
on the rows' logsumexp under every loss.
* Entropy temperature: ``mean(alpha * stop_gradient(-log_pi - target_entropy))`` on
  ``log_alpha``, target entropy ``-0.5 * action_size`` by default.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

LOGSUMEXP_PENALTY = 0.1
ENERGIES = ("l2", "l2_squared", "dot", "cosine")  # the critic's energy: logits and Q ("l2": the paper's)
CONTRASTIVE_LOSSES = ("forward", "backward", "symmetric", "binary_nce")  # "forward": the paper's InfoNCE
EVERY_ROW_LOSSES = ("backward", "symmetric")  # normalise over every row of the batch: not on a data-parallel shard
_NORM_EPS = 1e-12  # keeps the gradient of the L2 norm finite where phi == psi


def l2_distance(x: jax.Array, y: jax.Array) -> jax.Array:
    """Euclidean distance over the last axis, with a finite gradient at zero."""
    return jnp.sqrt(jnp.sum((x - y) ** 2, axis=-1) + _NORM_EPS)


def energy(phi: jax.Array, psi: jax.Array, kind: str = "l2") -> jax.Array:
    """The critic's energy of representations over their last axis (broadcasting the rest): the
    logits and Q. ``l2``: ``-||phi - psi||`` (the paper); ``l2_squared``: ``-||phi - psi||^2``;
    ``dot``: ``phi . psi``; ``cosine``: ``phi . psi / (||phi|| ||psi||)``."""
    if kind == "l2":
        return -l2_distance(phi, psi)
    if kind == "l2_squared":
        return -jnp.sum((phi - psi) ** 2, axis=-1)
    if kind == "dot":
        return jnp.sum(phi * psi, axis=-1)
    if kind == "cosine":
        norms = jnp.sqrt((jnp.sum(phi**2, axis=-1) + _NORM_EPS) * (jnp.sum(psi**2, axis=-1) + _NORM_EPS))
        return jnp.sum(phi * psi, axis=-1) / norms
    raise ValueError(f"energy must be one of {list(ENERGIES)}, got {kind!r}")


def pairwise_logits(phi: jax.Array, psi: jax.Array, kind: str = "l2") -> jax.Array:
    """``logits[i, j] = energy(phi_i, psi_j)``; phi: (b, D), psi: (B, D) -> (b, B)."""
    return energy(phi[:, None, :], psi[None, :, :], kind)


def contrastive_term(logits: jax.Array, is_positive: jax.Array, kind: str = "forward") -> jax.Array:
    """The contrastive loss of a (b, B) logit matrix whose positives ``is_positive`` marks
    (:data:`EVERY_ROW_LOSSES` need b == B)."""
    if kind in ("forward", "symmetric"):
        forward = -jnp.mean(jnp.sum(jnp.where(is_positive, jax.nn.log_softmax(logits, axis=1), 0.0), axis=1))
    if kind in ("backward", "symmetric"):
        backward = -jnp.mean(jnp.sum(jnp.where(is_positive, jax.nn.log_softmax(logits, axis=0), 0.0), axis=0))
    if kind == "forward":
        return forward
    if kind == "backward":
        return backward
    if kind == "symmetric":
        return 0.5 * (forward + backward)
    if kind == "binary_nce":  # the sigmoid cross-entropy of every pair, averaged
        return jnp.mean(jnp.where(is_positive, -jax.nn.log_sigmoid(logits), -jax.nn.log_sigmoid(-logits)))
    raise ValueError(f"contrastive_loss must be one of {list(CONTRASTIVE_LOSSES)}, got {kind!r}")


def critic_loss(
    phi: jax.Array, psi: jax.Array, logsumexp_penalty: float = LOGSUMEXP_PENALTY, row_offset: jax.Array | int = 0,
    energy_kind: str = "l2", contrastive: str = "forward",
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The contrastive loss (default: forward InfoNCE) plus the logsumexp penalty over rows of
    phi (b, D) against all goals psi (B, D), with logits of the energy ``energy_kind``.

    Row i's positive is goal ``row_offset + i`` (0 and b == B: the diagonal; a data-parallel
    shard passes its first row's index in the gathered batch). Returns (loss, metrics),
    means over the rows given; ``infonce`` is the contrastive term whichever it is.
    """
    logits = pairwise_logits(phi, psi, energy_kind)  # (b, B)
    rows = jnp.arange(logits.shape[0])
    positive = row_offset + rows  # (b,)
    is_positive = jnp.arange(logits.shape[1])[None, :] == positive[:, None]
    infonce = contrastive_term(logits, is_positive, contrastive)
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
