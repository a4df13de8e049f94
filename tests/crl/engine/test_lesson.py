"""Learning from another agent on a tiny PointUMaze engine: the distillation losses, the Lesson seam
(who acts, who learns), self-distillation, and the refusals."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl_depth.crl.engine import compiled
from gcrl_depth.crl.engine.config import PRESETS, CRLConfig
from gcrl_depth.crl.engine.distillation import (
    actor_distillation,
    critic_distillation,
    embedding_distillation,
    gaussian_kl,
)
from gcrl_depth.crl.engine.learner import Learner
from gcrl_depth.crl.engine.lesson import Lesson, lesson_losses, lesson_step
from gcrl_depth.crl.engine.networks import sample_action
from gcrl_depth.crl.engine.train import EnvSizes, make_train
from gcrl_depth.envs import make_core

TINY = PRESETS["tiny"]
STUDENT = CRLConfig(**TINY)
TEACHER = CRLConfig(**{**TINY, "depth": 8, "width": 32})


@pytest.fixture(scope="module")
def core():
    return make_core("PointUMaze", episode_length=12)


def leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.device_get(tree))]


def with_peer(state, peer_learner):
    return state.replace(peer=Learner(peer_learner.params, None))


def sharp_teacher(core, seed=5):
    """A fresh teacher of the TEACHER architecture whose critic heads are scaled up, so its logits
    are far from uniform (a fresh critic's are nearly flat: little to distill)."""
    learner = make_train(TEACHER, EnvSizes.of(core), core).init(jax.random.key(seed)).learner
    critic = learner.params.critic
    heads = critic.heads.replace(kernel=critic.heads.kernel * 30.0) if hasattr(critic.heads, "replace") else \
        type(critic.heads)(critic.heads.kernel * 30.0, critic.heads.bias)
    params = learner.params
    return learner.replace(params=type(params)(params.actor, type(critic)(critic.sa_input, critic.goal_input,
                                                                         critic.input_norms, critic.blocks, heads),
                                               params.log_alpha))


# ----------------------------------------------------------------- the losses
def test_the_analytic_policy_kl_equals_the_sampled_kl_of_the_tanh_squashed_policies():
    keys = jax.random.split(jax.random.key(0), 3)
    mean_p, mean_q = jax.random.normal(keys[0], (2, 3)), jax.random.normal(keys[1], (2, 3))
    log_std_p, log_std_q = jnp.full((2, 3), -0.5), jnp.full((2, 3), -0.2)
    noise = jax.random.normal(keys[2], (200_000, 2, 3))
    actions, log_p = sample_action(mean_p, log_std_p, noise=noise)  # tanh-Gaussian samples of p and their log-density
    pre_tanh = jnp.arctanh(jnp.clip(actions, -1 + 1e-6, 1 - 1e-6))
    # log q of the same squashed actions: q's Gaussian density at the same pre-tanh point, the same tanh Jacobian
    _, log_q_same_noise = sample_action(mean_q, log_std_q, noise=(pre_tanh - mean_q) / jnp.exp(log_std_q))
    sampled = jnp.mean(log_p - log_q_same_noise, axis=0)
    np.testing.assert_allclose(gaussian_kl(mean_p, log_std_p, mean_q, log_std_q), sampled, rtol=0.05, atol=0.02)


def test_each_distillation_term_is_zero_at_the_teacher_and_positive_away_from_it():
    key = jax.random.split(jax.random.key(1), 4)
    mean, log_std = jax.random.normal(key[0], (8, 2)), jnp.full((8, 2), -1.0)
    for kind in ("kl", "regression"):
        assert float(actor_distillation((mean, log_std), (mean, log_std), kind)) == 0.0
        assert float(actor_distillation((mean + 0.3, log_std), (mean, log_std), kind)) > 0.01
    logits = jax.random.normal(key[1], (8, 8))
    assert abs(float(critic_distillation(logits, logits))) < 1e-6
    assert float(critic_distillation(logits, 3.0 * logits)) > 0.01
    assert float(critic_distillation(logits + 5.0, logits)) < 1e-5  # a softmax ignores a shift of every logit
    phi, psi = jax.random.normal(key[2], (8, 4)), jax.random.normal(key[3], (8, 4))
    assert float(embedding_distillation((phi, psi), (phi, psi))) == 0.0
    assert float(embedding_distillation((phi + 1, psi), (phi, psi))) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="actor loss must be one of"):
        actor_distillation((mean, log_std), (mean, log_std), "mse")


# ----------------------------------------------------------------- the seam
def test_distillation_from_a_deeper_teacher_lowers_each_term_and_leaves_the_teacher_alone(core):
    engine = make_train(STUDENT, EnvSizes.of(core), core, lesson=Lesson(TEACHER, embedding_weight=0.5))
    teacher = sharp_teacher(core)
    state = with_peer(compiled.init(jax.random.key(0), engine), teacher)
    state = compiled.prefill(compiled.start(state, engine), engine)
    state, metrics = compiled.epoch(state, engine, 2)  # the engine's own loop: metrics of every term, finite
    assert all(np.isfinite(float(metrics[f"train/distill_{t}"])) for t in ("actor", "critic", "embedding"))
    for a, b in zip(leaves(teacher.params), leaves(state.peer.params)):
        np.testing.assert_array_equal(a, b)  # a frozen teacher
    assert state.peer.opt_state is None
    # on one fixed minibatch (no sampling noise), 60 lesson steps lower every term (the embedding term alone:
    # of the scaled teacher it is thousands, and with the others it would drown the logits' KL)
    batch = state.buffer.sample(jax.random.key(1), STUDENT.batch_size, STUDENT.gamma)
    scale, fresh = jnp.ones(()), compiled.init(jax.random.key(0), engine).learner  # Adam's moments from zero

    @functools.partial(jax.jit, static_argnums=(1, 2))
    def terms_after(learner, lesson, steps):
        def step(learner, _):
            return lesson_step(learner, state.peer, batch, jax.random.key(2), engine.learner_spec, engine.peer_spec,
                               lesson, scale)[0], None

        learner = jax.lax.scan(step, learner, None, length=steps)[0] if steps else learner
        return lesson_losses(learner.params, batch, jax.random.key(2), engine.learner_spec, state.peer.params,
                             engine.peer_spec, lesson, scale)[1]

    for lesson, terms in ((Lesson(TEACHER), ("actor", "critic")),
                          (Lesson(TEACHER, actor_weight=0.0, critic_weight=0.0, embedding_weight=1.0), ("embedding",))):
        before, after = terms_after(fresh, lesson, 0), terms_after(fresh, lesson, 60)
        for term in terms:
            assert float(after[f"train/distill_{term}"]) < 0.97 * float(before[f"train/distill_{term}"]), term


def test_a_student_of_the_teachers_architecture_started_from_it_keeps_its_actions(core):
    engine = make_train(TEACHER, EnvSizes.of(core), core, lesson=Lesson(TEACHER))
    teacher = sharp_teacher(core)
    fresh = compiled.init(jax.random.key(0), engine)
    copy = with_peer(fresh.replace(learner=fresh.learner.replace(params=teacher.params)), teacher)
    copy = compiled.prefill(compiled.start(copy, engine), engine)
    batch = copy.buffer.sample(jax.random.key(1), TEACHER.batch_size, TEACHER.gamma)

    def loss(params):
        return lesson_losses(params, batch, jax.random.key(2), engine.learner_spec, teacher.params, engine.peer_spec,
                             engine.lesson, jnp.ones(()))[0]

    def largest_gradient(params):
        return max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(jax.jit(jax.grad(loss))(params)))

    # at the teacher the loss is 0 and its gradient is float rounding (the forward passes fuse differently)
    assert abs(float(jax.jit(loss)(teacher.params))) < 1e-6
    assert largest_gradient(teacher.params) < 1e-3 * largest_gradient(fresh.learner.params)
    # Adam scales even a rounding-level gradient to learning-rate-sized steps, so the copy jitters about the
    # teacher instead of sitting on it: its KL stays a small fraction of a fresh student's, its actions close
    copy, metrics = compiled.epoch(copy, engine, 3)
    from_scratch = float(jax.jit(loss)(fresh.learner.params))
    assert float(metrics["train/distill_actor"]) + float(metrics["train/distill_critic"]) < 1e-2 * from_scratch
    obs = jax.random.normal(jax.random.key(2), (16, engine.sizes.observation_size))
    goal = jax.random.normal(jax.random.key(3), (16, engine.sizes.goal_size))
    np.testing.assert_allclose(compiled.act(copy.learner.params.actor, obs, goal, engine),
                               compiled.act(teacher.params.actor, obs, goal, engine), atol=0.05)


def test_a_learner_on_its_peers_rollouts_never_acts_and_the_peer_learns(core):
    lesson = Lesson(TEACHER, acting="peer", peer_learns=True, actor_weight=0.0, critic_weight=0.0, crl_weight=1.0)
    engine = make_train(STUDENT, EnvSizes.of(core), core, lesson=lesson)
    start = compiled.init(jax.random.key(0), engine)
    other = start.replace(learner=compiled.init(jax.random.key(9), engine).learner)  # another learner, same peer and key

    def collected(state):
        state = compiled.prefill(compiled.start(state, engine), engine)
        state, metrics = compiled.epoch(state, engine, 2)
        return state, metrics

    state, metrics = collected(start)
    state_other, _ = collected(other)
    for a, b in zip(leaves(state.buffer), leaves(state_other.buffer)):
        np.testing.assert_array_equal(a, b)  # the learner's parameters never reached the envs
    assert not all(np.allclose(a, b) for a, b in zip(leaves(start.peer.params), leaves(state.peer.params)))
    assert "peer/critic_loss" in metrics and "train/critic_loss" in metrics
    assert state.peer.params.actor.blocks.kernel.shape[0] == TEACHER.depth // 4  # the peer keeps its own depth


def test_a_plain_engine_is_unchanged_by_the_seam(core):
    plain = make_train(STUDENT, EnvSizes.of(core), core)
    state = compiled.init(jax.random.key(0), plain)
    assert state.peer is None
    state, metrics = compiled.epoch(compiled.prefill(compiled.start(state, plain), plain), plain, 1)
    assert state.peer is None and not any(k.startswith(("peer/", "train/distill")) for k in metrics)


def test_the_lesson_refuses_what_it_cannot_teach(core):
    sizes = EnvSizes.of(core)
    with pytest.raises(ValueError, match="needs something to learn"):
        Lesson(TEACHER, actor_weight=0, critic_weight=0)
    with pytest.raises(ValueError, match="acting must be one of"):
        Lesson(TEACHER, acting="teacher")
    with pytest.raises(ValueError, match="critic_weight must be a finite number >= 0"):
        Lesson(TEACHER, critic_weight=-1.0)
    with pytest.raises(ValueError, match=r"peer's repr_dim \(16\)"):
        make_train(STUDENT, sizes, core, lesson=Lesson(CRLConfig(**{**TINY, "repr_dim": 16}), embedding_weight=1.0))
    with pytest.raises(ValueError, match="steps gcrl_depth's own envs"):
        make_train(STUDENT, sizes, None, lesson=Lesson(TEACHER, acting="peer"))
    with pytest.raises(ValueError, match="drop data_parallel"):
        make_train(CRLConfig(**{**TINY, "num_envs": 4}), sizes, core, data_shards=2, lesson=Lesson(TEACHER))
