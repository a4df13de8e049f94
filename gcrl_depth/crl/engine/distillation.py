"""Distillation losses: a student's actor and critic pulled towards a teacher's, as pure functions.

* Actor, ``"kl"``: ``KL(pi_teacher || pi_student)`` of the tanh-Gaussian policies, summed over
  action dimensions. tanh is invertible, so this equals the KL of the Gaussians before the
  squashing, which has a closed form: no sampling noise. ``"regression"``: squared error on
  the pre-tanh mean and the log-std.
* Critic: the teacher's B x B logit matrix ``logits[i, j] = f(phi(s_i, a_i), psi(g_j))`` as soft
  targets for the student's, row by row (a softmax over goals, as InfoNCE's): the KL of the
  teacher's row distribution to the student's, averaged over rows.
* Embeddings (optional): squared error between the student's and teacher's phi and psi
  (equal ``repr_dim`` needed).

Each returns a scalar averaged over the minibatch's rows; the teacher's outputs are
``stop_gradient``-ed inputs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

ACTOR_LOSSES = ("kl", "regression")  # how the student's policy is pulled to the teacher's


def gaussian_kl(mean_p: jax.Array, log_std_p: jax.Array, mean_q: jax.Array, log_std_q: jax.Array) -> jax.Array:
    """Per-row ``KL(N(mean_p, std_p) || N(mean_q, std_q))`` of diagonal Gaussians, summed over the last axis."""
    var_p, var_q = jnp.exp(2.0 * log_std_p), jnp.exp(2.0 * log_std_q)
    return jnp.sum(log_std_q - log_std_p + (var_p + (mean_p - mean_q) ** 2) / (2.0 * var_q) - 0.5, axis=-1)


def actor_distillation(student: tuple[jax.Array, jax.Array], teacher: tuple[jax.Array, jax.Array],
                       kind: str = "kl") -> jax.Array:
    """The student's policy (mean, log_std) against the teacher's: mean over rows of :data:`ACTOR_LOSSES`' ``kind``."""
    mean, log_std = student
    teacher_mean, teacher_log_std = jax.lax.stop_gradient(teacher)
    if kind == "kl":
        return jnp.mean(gaussian_kl(teacher_mean, teacher_log_std, mean, log_std))
    if kind == "regression":
        return jnp.mean(jnp.sum((mean - teacher_mean) ** 2 + (log_std - teacher_log_std) ** 2, axis=-1))
    raise ValueError(f"actor loss must be one of {list(ACTOR_LOSSES)}, got {kind!r}")


def critic_distillation(student_logits: jax.Array, teacher_logits: jax.Array) -> jax.Array:
    """Row-softmax KL of the teacher's (B, B) logits to the student's, averaged over rows."""
    target = jax.nn.log_softmax(jax.lax.stop_gradient(teacher_logits), axis=1)
    return jnp.mean(jnp.sum(jnp.exp(target) * (target - jax.nn.log_softmax(student_logits, axis=1)), axis=1))


def embedding_distillation(student: tuple[jax.Array, jax.Array], teacher: tuple[jax.Array, jax.Array]) -> jax.Array:
    """Squared error of the student's (phi, psi) to the teacher's, summed over the representation, mean over rows."""
    teacher = jax.lax.stop_gradient(teacher)
    return sum(jnp.mean(jnp.sum((s - t) ** 2, axis=-1)) for s, t in zip(student, teacher))
