"""The CRL training engine: pure functions over one training-state pytree.

``make_train(config, sizes, core=None)`` returns an :class:`Engine`, whose methods are
pure functions of a :class:`TrainState` (and arrays); nothing inside is jitted, so the
caller chooses ``jit``, ``vmap`` over a leading run axis (several seeds in one program,
:mod:`gcrl_depth.crl.training.run_set`) or sharding. An Engine is a frozen, hashable value (its
config, sizes and env core), so it can be a static argument of ``jax.jit``.

One training *iteration* collects ``unroll_length`` steps in every env with the
stochastic actor, inserts them into the replay buffer, and takes
``updates_per_iteration`` gradient steps (:func:`~gcrl_depth.crl.engine.learner.gradient_step`).
An *epoch* is several iterations as one ``lax.scan``.

Data parallel (``data_shards`` > 1, the functions run inside ``shard_map`` over the mesh
axis :data:`DATA_AXIS`; :mod:`gcrl_depth.crl.engine.devices` wraps them): each device steps
``num_envs / data_shards`` envs, keeps their slots of the replay buffer, samples
``batch_size / data_shards`` rows from them and computes their part of the losses, with
psi(g) all-gathered so InfoNCE still sees all B goals; the learner is replicated and its
update is the single-device one on the whole minibatch.

:meth:`Engine.evaluate` is the evaluator's rollout (:func:`~gcrl_depth.envs.rollout.episode_sums`) with the
deterministic actor.

Learning from another agent (``lesson`` given, :mod:`gcrl_depth.crl.engine.lesson`): the state
carries the peer's learner (``peer``); collection is by the learner or the peer, and each
gradient step takes the lesson's loss (distillation and/or CRL), the peer learning too when
the lesson says so.

Device path (``core`` given): the env is stepped inside :meth:`Engine.epoch`. Host path
(``core`` None, any Gymnasium goal env): the host steps the env with :meth:`Engine.explore`'s
actions, and :meth:`Engine.learn_from` inserts its rows and takes the iteration's
gradient steps.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from gcrl_depth.checks import positive_int
from gcrl_depth.crl.engine.buffer import ReplayBuffer
from gcrl_depth.crl.engine.config import CRLConfig
from gcrl_depth.crl.engine.learner import Learner, LearnerSpec, gradient_step, init_learner
from gcrl_depth.crl.engine.lesson import Lesson, lesson_step
from gcrl_depth.crl.engine.losses import EVERY_ROW_LOSSES, energy
from gcrl_depth.crl.engine.networks import (
    BLOCK_SIZE,
    ActorParams,
    CriticParams,
    TowerSpec,
    actor_forward,
    default_unroll,
    deterministic_action,
    encode,
    sample_action,
)
from gcrl_depth.envs.core import EnvState, GoalEnv
from gcrl_depth.envs.rollout import episode_ids, episode_sums, rollout
from gcrl_depth.goal_envs import EnvSizes

DATA_AXIS = "data"  # the mesh axis a data-parallel run splits its envs and minibatch over


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class AgentState:
    """What a run keeps while it collects nothing (a pytree): before its first training call, after
    a load without the buffer, after a failed epoch.

    Attributes:
        learner: parameters, temperature and Adam state.
        key: the run's one PRNG key.
        iterations: training iterations done, () int32.
        peer: the other agent's learner during a lesson (a frozen teacher's has no optimizer
            state); None otherwise.
    """

    learner: Learner
    key: jax.Array
    iterations: jax.Array
    peer: Learner | None = None

    def replace(self, **changes: Any) -> AgentState:
        return dataclasses.replace(self, **changes)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainState:
    """Everything training carries from one step to the next (a pytree of one shape per engine):
    an :class:`AgentState`'s fields and what collection adds (:meth:`Engine.start`).

    Attributes:
        learner, key, iterations: as :class:`AgentState`.
        buffer: the replay buffer.
        env: batched state of the training envs on the device path; None on the host path, whose
            envs live on the host.
        episode: per-env episode counter (tags buffer steps with their episode), (num_envs,).
        peer: as :class:`AgentState`.
    """

    learner: Learner
    key: jax.Array
    iterations: jax.Array
    buffer: ReplayBuffer
    env: EnvState | None
    episode: jax.Array
    peer: Learner | None = None

    def replace(self, **changes: Any) -> TrainState:
        return dataclasses.replace(self, **changes)

    @property
    def agent(self) -> AgentState:
        """The learner, key, iterations (and peer) alone."""
        return AgentState(self.learner, self.key, self.iterations, self.peer)


def _mean_tree(tree: Any) -> Any:
    return jax.tree_util.tree_map(lambda x: jnp.mean(x, axis=0), tree)


@dataclasses.dataclass(frozen=True)
class Engine:
    """Pure training functions for one config, env sizes and (device path) env core."""

    config: CRLConfig
    sizes: EnvSizes
    core: GoalEnv | None = None
    data_shards: int = 1
    lesson: Lesson | None = None

    # ----------------------------------------------------------------- specs
    @property
    def local_envs(self) -> int:
        """Envs (and buffer slots) of one data shard."""
        return self.config.num_envs // self.data_shards

    def _local(self, key: jax.Array) -> jax.Array:
        """A key of this data shard's own (the key itself on one device)."""
        return key if self.data_shards == 1 else jax.random.fold_in(key, jax.lax.axis_index(DATA_AXIS))

    def _shard_slice(self, x: jax.Array) -> jax.Array:
        """This data shard's part of an array over all envs (all of it on one device)."""
        if self.data_shards == 1:
            return x
        return jax.lax.dynamic_slice_in_dim(x, jax.lax.axis_index(DATA_AXIS) * self.local_envs, self.local_envs)

    @property
    def learner_spec(self) -> LearnerSpec:
        return learner_spec(self.config, self.sizes, self.data_shards)

    @property
    def peer_spec(self) -> LearnerSpec:
        """The lesson's peer's networks and losses."""
        return learner_spec(self.lesson.peer, self.sizes)

    # ----------------------------------------------------------------- state
    def init(self, key: jax.Array) -> AgentState:
        """A fresh learner and the run's key; no buffer or envs yet (see :meth:`start`)."""
        learner_key, key = jax.random.split(key)
        peer = None if self.lesson is None else init_learner(self.peer_spec, jax.random.fold_in(learner_key, 1))
        return AgentState(learner=init_learner(self.learner_spec, learner_key), key=key,
                          iterations=jnp.zeros((), jnp.int32), peer=peer)

    def start(self, state: AgentState | TrainState) -> TrainState:
        """An empty replay buffer and (device path) freshly reset envs around ``state``'s learner."""
        cfg, sizes = self.config, self.sizes
        key, env_key = jax.random.split(state.key)
        env_keys = self._shard_slice(jax.random.split(env_key, cfg.num_envs))  # the envs one device would reset
        env = jax.vmap(self.core.reset)(env_keys) if self.core is not None else None
        buffer = ReplayBuffer.create(cfg.buffer_size, self.local_envs, sizes.observation_size, sizes.action_size,
                                     sizes.goal_size)
        return TrainState(learner=state.learner, key=key, iterations=state.iterations, buffer=buffer, env=env,
                          episode=jnp.zeros((self.local_envs,), jnp.int32), peer=state.peer)

    # ----------------------------------------------------------------- acting
    def act(self, actor: ActorParams, obs: jax.Array, goal: jax.Array, key: jax.Array | None = None,
            tower: TowerSpec | None = None) -> jax.Array:
        """Actions for batches of states and goals: stochastic with a key, else tanh(mean); ``tower``:
        the actor's (default the learner's)."""
        mean, log_std = actor_forward(actor, obs, goal, tower or self.learner_spec.actor)
        return deterministic_action(mean) if key is None else sample_action(mean, log_std, key)[0]

    def acting(self, state: TrainState) -> tuple[ActorParams, TowerSpec]:
        """The actor that steps the envs, and its tower: the learner's, or a lesson's acting peer's."""
        if self.lesson is not None and self.lesson.acting == "peer":
            return state.peer.params.actor, self.peer_spec.actor
        return state.learner.params.actor, self.learner_spec.actor

    def explore(self, actor: ActorParams, key: jax.Array, obs: jax.Array, goal: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Host path: stochastic actions for a batch, and the next key."""
        key, action_key = jax.random.split(key)
        return self.act(actor, obs, goal, action_key), key

    def evaluate(self, actor: ActorParams, keys: jax.Array, core: GoalEnv) -> tuple[jax.Array, jax.Array]:
        """One episode per key of ``core`` with the deterministic actor: steps at the goal and final distances."""
        return episode_sums(actor, keys, core, self.act)

    def q_value(self, critic: CriticParams, obs: jax.Array, action: jax.Array, goal: jax.Array) -> jax.Array:
        """Q(s, a, g), the critic's energy of phi(s, a) and psi(g) (the paper's: -||phi - psi||), for paired batches."""
        spec = self.learner_spec
        return energy(*encode(critic, obs, action, goal, spec.critic), spec.energy)

    # ----------------------------------------------------------------- collection (device path)
    def collect(self, state: TrainState, steps: int) -> tuple[TrainState, dict[str, jax.Array]]:
        """Step every env ``steps`` times with the stochastic actor and store the steps."""
        key, collect_key = jax.random.split(state.key)
        actor, tower = self.acting(state)

        def policy(env_state: EnvState, step_key: jax.Array) -> jax.Array:
            return self.act(actor, env_state.obs, env_state.goal, step_key, tower)

        def observe(env_state: EnvState, action: jax.Array, following: EnvState) -> tuple[jax.Array, ...]:
            return env_state.obs, action, env_state.achieved_goal, following.metrics["success"], following.done

        env_state, (obs, actions, goals, success, done) = rollout(
            self.core.step, policy, state.env, steps, observe, jax.random.split(self._local(collect_key), steps))
        episode, next_episode = episode_ids(state.episode, done)
        metrics = {"collect/success": jnp.mean(success), "collect/episodes_ended": jnp.sum(done).astype(jnp.float32)}
        if self.data_shards > 1:
            metrics = {"collect/success": jax.lax.pmean(metrics["collect/success"], DATA_AXIS),
                       "collect/episodes_ended": jax.lax.psum(metrics["collect/episodes_ended"], DATA_AXIS)}
        buffer = state.buffer.insert(obs, actions, goals, episode)
        return state.replace(env=env_state, episode=next_episode, buffer=buffer, key=key), metrics

    def prefill(self, state: TrainState) -> TrainState:
        """``prefill_steps`` steps per env with the initial policy, into the buffer."""
        return state if self.config.prefill_steps == 0 else self.collect(state, self.config.prefill_steps)[0]

    # ----------------------------------------------------------------- learning
    def update(self, learner: Learner, buffer: ReplayBuffer, key: jax.Array) -> tuple[Learner, dict[str, jax.Array]]:
        """One gradient step on a freshly sampled, relabelled minibatch."""
        sample_key, action_key = jax.random.split(key)
        batch = buffer.sample(self._local(sample_key), self.config.batch_size // self.data_shards, self.config.gamma)
        return gradient_step(learner, batch, action_key, self.learner_spec)

    def lesson_update(self, learner: Learner, peer: Learner, buffer: ReplayBuffer, key: jax.Array,
                      scale: jax.Array) -> tuple[tuple[Learner, Learner], dict[str, jax.Array]]:
        """A lesson's gradient step on one minibatch: the learner's lesson loss and, if the peer
        learns, the peer's plain CRL step on the same rows (its metrics as ``peer/...``)."""
        sample_key, action_key = jax.random.split(key)
        batch = buffer.sample(sample_key, self.config.batch_size, self.config.gamma)
        learner, metrics = lesson_step(learner, peer, batch, action_key, self.learner_spec, self.peer_spec, self.lesson,
                                       scale)
        if self.lesson.peer_learns:
            peer, peer_metrics = gradient_step(peer, batch, jax.random.fold_in(action_key, 1), self.peer_spec)
            metrics = {**metrics, **{name.replace("train/", "peer/", 1): v for name, v in peer_metrics.items()}}
        return (learner, peer), metrics

    def updates(self, state: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
        """One iteration's gradient steps; metrics averaged over them."""
        key, update_key = jax.random.split(state.key)
        keys = jax.random.split(update_key, self.config.updates_per_iteration)
        if self.lesson is not None:
            scale = self.lesson.distillation_scale(state.iterations * self.config.updates_per_iteration)
            (learner, peer), metrics = jax.lax.scan(
                lambda pair, step_key: self.lesson_update(*pair, state.buffer, step_key, scale),
                (state.learner, state.peer), keys)
            state = state.replace(learner=learner, peer=peer)
        else:
            learner, metrics = jax.lax.scan(lambda learner, step_key: self.update(learner, state.buffer, step_key),
                                            state.learner, keys)
            state = state.replace(learner=learner)
        return state.replace(key=key, iterations=state.iterations + 1), _mean_tree(metrics)

    def iteration(self, state: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
        """Device path: collect ``unroll_length`` steps per env, then the gradient steps."""
        state, collect_metrics = self.collect(state, self.config.unroll_length)
        state, update_metrics = self.updates(state)
        return state, {**update_metrics, **collect_metrics}

    def epoch(self, state: TrainState, iterations: int) -> tuple[TrainState, dict[str, jax.Array]]:
        """``iterations`` training iterations as one scan; metrics averaged over them."""
        state, metrics = jax.lax.scan(lambda s, _: self.iteration(s), state, None, length=iterations)
        return state, _mean_tree(metrics)

    # ----------------------------------------------------------------- host path
    def insert(self, state: TrainState, rows: tuple[jax.Array, ...]) -> TrainState:
        """Store host rows ``(obs, actions, achieved goals, episode)``, each (steps, num_envs, ...)."""
        return state.replace(buffer=state.buffer.insert(*rows))

    def learn_from(self, state: TrainState, rows: tuple[jax.Array, ...]) -> tuple[TrainState, dict[str, jax.Array]]:
        """One iteration on rows collected on the host: insert them, then the gradient steps."""
        return self.updates(self.insert(state, rows))


def learner_spec(config: CRLConfig, sizes: EnvSizes, data_shards: int = 1) -> LearnerSpec:
    """The networks and losses ``config`` trains on an env of ``sizes`` (its minibatch split over ``data_shards``)."""
    platform = jax.default_backend()

    def tower(depth: int, width: int) -> TowerSpec:
        unroll = config.scan_unroll or default_unroll(depth // BLOCK_SIZE, platform)
        return TowerSpec(depth, width, dtype=config.compute_dtype, unroll=unroll, remat=config.remat,
                         kernel=config.tower_kernel, layer_norm=config.layer_norm, activation=config.activation,
                         residual=config.residual)

    return LearnerSpec(
        obs_size=sizes.observation_size, goal_size=sizes.goal_size, action_size=sizes.action_size,
        actor=tower(config.resolved_actor_depth, config.resolved_actor_width),
        critic=tower(config.resolved_critic_depth, config.resolved_critic_width),
        repr_dim=config.repr_dim, learning_rate=config.learning_rate,
        target_entropy=config.entropy_target(sizes.action_size), logsumexp_penalty=config.logsumexp_penalty,
        energy=config.energy, contrastive_loss=config.contrastive_loss,
        data_axis=DATA_AXIS if data_shards > 1 else None, data_shards=data_shards)


def make_train(config: CRLConfig, sizes: EnvSizes, core: GoalEnv | None = None, data_shards: int = 1,
               lesson: Lesson | None = None) -> Engine:
    """The pure training functions of ``config`` on an env of ``sizes`` (stepped on the device if ``core``),
    split over ``data_shards`` devices (data parallel) if more than one, learning from a peer if
    ``lesson`` (:mod:`gcrl_depth.crl.engine.lesson`).

    Engines of equal arguments are equal and hash alike, so as a static argument of ``jax.jit``
    (:mod:`gcrl_depth.crl.engine.compiled`) they share compiled programs.
    """
    if core is not None and EnvSizes.of(core) != sizes:
        raise ValueError(f"core sizes {EnvSizes.of(core).as_dict()} differ from {sizes.as_dict()}")
    data_shards = positive_int(data_shards, "data_shards")
    for name in ("num_envs", "batch_size"):
        if getattr(config, name) % data_shards:
            raise ValueError(f"data parallel over {data_shards} devices needs {name} divisible by {data_shards}, "
                             f"got {getattr(config, name)}")
    if data_shards > 1 and config.contrastive_loss in EVERY_ROW_LOSSES:
        raise ValueError(f"contrastive_loss={config.contrastive_loss!r} normalises over every row of the batch, which "
                         "data parallel splits over devices; use 'forward' or 'binary_nce' with data_parallel")
    if lesson is not None:
        check_lesson(lesson, config, core, data_shards)
    return Engine(config, sizes, core, data_shards, lesson)


def check_lesson(lesson: Lesson, config: CRLConfig, core: GoalEnv | None, data_shards: int) -> None:
    """Refuse a lesson the engine cannot give, naming why."""
    if not isinstance(lesson, Lesson):
        raise TypeError(f"lesson must be a Lesson, got {type(lesson).__name__}")
    if data_shards > 1:
        raise ValueError("learning from another agent runs on one device per run: drop data_parallel")
    if lesson.acting == "peer" and core is None:
        raise ValueError("a lesson whose peer acts steps gcrl_depth's own envs (the device path); on another env "
                         "the learner acts (acting='learner')")
    if lesson.embedding_weight and lesson.peer.repr_dim != config.repr_dim:
        raise ValueError(f"matching embeddings needs the peer's repr_dim ({lesson.peer.repr_dim}) in the learner too "
                         f"(it has {config.repr_dim})")
