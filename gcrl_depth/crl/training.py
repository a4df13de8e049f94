"""The fully jitted CRL trainer: collect -> insert -> sample/relabel -> gradient steps.

One training *iteration* collects ``unroll_length`` steps in every env with the
stochastic actor, inserts them into the replay buffer, and takes
``updates_per_iteration`` gradient steps (each: actor + temperature, then critic, on the
same minibatch of hindsight-relabelled transitions). :meth:`CRLTrainer.train` runs many
iterations as one jitted ``lax.scan`` with the training state donated, so the host only
sees one call per epoch.

That is the *device path*, for envs with a pure-JAX core. Any other goal env is stepped on
the host (:mod:`gcrl_depth.crl.collectors`): the trainer is then built on the env's
:class:`EnvSizes`, :meth:`CRLTrainer.explore` gives the stochastic actions, and
:meth:`CRLTrainer.learn_from` inserts the host's rows and takes the iteration's gradient
steps in one jitted call (the same update program).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from gcrl_depth.crl.buffer import ReplayBuffer
from gcrl_depth.crl.config import CRLConfig
from gcrl_depth.crl.losses import actor_loss, alpha_loss, critic_loss, l2_distance
from gcrl_depth.crl.networks import COMPUTE_DTYPES, Actor, GoalEncoder, StateActionEncoder, deterministic_action, sample_action
from gcrl_depth.envs.core import EnvState, GoalEnv


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainState:
    """Everything training carries from one step to the next (a pytree).

    Attributes:
        actor_params: parameters of pi(a | s, g).
        critic_params: ``{"sa": phi params, "goal": psi params}``.
        log_alpha: log of the entropy temperature, shape ().
        actor_opt, critic_opt, alpha_opt: Adam states.
        buffer: the replay buffer.
        env_state: batched state of the training envs (device path; None on the host path).
        episode: per-env episode counter (tags buffer steps with their episode), (num_envs,).
        key: PRNG key.
    """

    actor_params: Any
    critic_params: Any
    log_alpha: jax.Array
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any
    buffer: ReplayBuffer
    env_state: EnvState | None
    episode: jax.Array
    key: jax.Array

    def replace(self, **changes: Any) -> "TrainState":
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class EnvSizes:
    """What the networks and buffer need to know of an env stepped on the host."""

    observation_size: int
    goal_size: int
    action_size: int

    @classmethod
    def of(cls, core: GoalEnv) -> EnvSizes:
        return cls(core.observation_size, core.goal_size, core.action_size)

    def as_dict(self) -> dict[str, int]:
        """``{"observation": ..., "goal": ..., "action": ...}``, as checkpoints record them."""
        return {"observation": self.observation_size, "goal": self.goal_size, "action": self.action_size}


LEARNER_FIELDS = ("actor_params", "critic_params", "log_alpha", "actor_opt", "critic_opt", "alpha_opt")


def _mean_tree(tree: Any) -> Any:
    return jax.tree_util.tree_map(lambda x: jnp.mean(x, axis=0), tree)


_TRAINERS: dict[tuple[GoalEnv | EnvSizes, CRLConfig], "CRLTrainer"] = {}


def shared_trainer(env: GoalEnv | EnvSizes, config: CRLConfig) -> "CRLTrainer":
    """The trainer of ``(env, config)``; agents with equal settings share its compiled programs."""
    if (env, config) not in _TRAINERS:
        _TRAINERS[env, config] = CRLTrainer(env, config)
    return _TRAINERS[env, config]


class CRLTrainer:
    """Deep CRL networks, optimizers and jitted training programs for one env and config.

    ``env`` is a pure-JAX core (device path: collection inside the programs) or the
    :class:`EnvSizes` of an env stepped on the host (:meth:`learn_from`).
    """

    def __init__(self, env: GoalEnv | EnvSizes, config: CRLConfig) -> None:
        self.env, self.config = env, config
        tower = {"remat": config.remat, "unroll": config.scan_unroll, "dtype": COMPUTE_DTYPES[config.compute_dtype]}
        self.actor = Actor(config.resolved_actor_depth, config.resolved_actor_width, env.action_size, **tower)
        self.sa_encoder = StateActionEncoder(config.resolved_critic_depth, config.resolved_critic_width, config.repr_dim, **tower)
        self.goal_encoder = GoalEncoder(config.resolved_critic_depth, config.resolved_critic_width, config.repr_dim, **tower)
        self.optimizer = optax.adam(config.learning_rate)
        self.target_entropy = config.entropy_target(env.action_size)
        self.policy = jax.jit(self.act)
        self.explore = jax.jit(self._explore)
        self.init = jax.jit(self._init)
        self.init_learner = jax.jit(self._init_learner)
        self.start = jax.jit(self._start)
        self._compiled: dict[int, Callable[[TrainState], Any]] = {}
        self.prefill = jax.jit(self._prefill, donate_argnums=0)
        self.train = jax.jit(self._train, static_argnums=1, donate_argnums=0)
        self.insert = jax.jit(self._insert, donate_argnums=0)
        self.learn_from = jax.jit(self._learn_from, donate_argnums=0)
        self._compiled_learn_from: Callable[..., Any] | None = None

    # ----------------------------------------------------------------- state
    def _init_learner(self, key: jax.Array) -> dict[str, Any]:
        """Fresh parameters, temperature and optimizer states: the :data:`LEARNER_FIELDS`."""
        env = self.env
        actor_key, sa_key, goal_key = jax.random.split(key, 3)
        obs = jnp.zeros((1, env.observation_size))
        goal = jnp.zeros((1, env.goal_size))
        action = jnp.zeros((1, env.action_size))
        actor_params = self.actor.init(actor_key, obs, goal)
        critic_params = {"sa": self.sa_encoder.init(sa_key, obs, action), "goal": self.goal_encoder.init(goal_key, goal)}
        log_alpha = jnp.zeros((), jnp.float32)
        return {
            "actor_params": actor_params,
            "critic_params": critic_params,
            "log_alpha": log_alpha,
            "actor_opt": self.optimizer.init(actor_params),
            "critic_opt": self.optimizer.init(critic_params),
            "alpha_opt": self.optimizer.init(log_alpha),
        }

    def _start(self, learner: dict[str, Any], key: jax.Array) -> TrainState:
        """A training state around ``learner``: empty buffer, freshly reset envs."""
        cfg, env = self.config, self.env
        env_key, key = jax.random.split(key)
        return TrainState(
            **learner,
            buffer=ReplayBuffer.create(cfg.buffer_size, cfg.num_envs, env.observation_size, env.action_size, env.goal_size),
            env_state=jax.vmap(env.reset)(jax.random.split(env_key, cfg.num_envs)) if isinstance(env, GoalEnv) else None,
            episode=jnp.zeros((cfg.num_envs,), jnp.int32),
            key=key,
        )

    def _init(self, key: jax.Array) -> TrainState:
        learner_key, key = jax.random.split(key)
        return self._start(self._init_learner(learner_key), key)

    def compiled_train(self, state: TrainState, iterations: int) -> tuple[Callable[[TrainState], Any], float]:
        """The compiled ``train`` program for ``iterations`` and the seconds spent compiling it (0 if cached)."""
        if iterations not in self._compiled:
            start = time.perf_counter()
            self._compiled[iterations] = self.train.lower(state, iterations).compile()
            return self._compiled[iterations], time.perf_counter() - start
        return self._compiled[iterations], 0.0

    def compiled_learn_from(self, state: TrainState, rows: tuple[Any, ...]) -> tuple[Callable[..., Any], float]:
        """The compiled ``learn_from`` program (host path) and the seconds spent compiling it (0 if cached)."""
        if self._compiled_learn_from is None:
            start = time.perf_counter()
            self._compiled_learn_from = self.learn_from.lower(state, rows).compile()
            return self._compiled_learn_from, time.perf_counter() - start
        return self._compiled_learn_from, 0.0

    # ----------------------------------------------------------------- acting
    def act(self, actor_params: Any, obs: jax.Array, goal: jax.Array, key: jax.Array | None = None) -> jax.Array:
        """Actions for (batches of) states and goals: stochastic with a key, else tanh(mean)."""
        mean, log_std = self.actor.apply(actor_params, obs, goal)
        if key is None:
            return deterministic_action(mean)
        return sample_action(mean, log_std, key)[0]

    def _explore(self, actor_params: Any, key: jax.Array, obs: jax.Array, goal: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Host path: stochastic actions for a batch, and the next key."""
        key, action_key = jax.random.split(key)
        return self.act(actor_params, obs, goal, action_key), key

    def encode(self, critic_params: Any, obs: jax.Array, action: jax.Array, goal: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Representations (phi(s, a), psi(g))."""
        return self.sa_encoder.apply(critic_params["sa"], obs, action), self.goal_encoder.apply(critic_params["goal"], goal)

    def q_value(self, critic_params: Any, obs: jax.Array, action: jax.Array, goal: jax.Array) -> jax.Array:
        """Q(s, a, g) = -||phi(s, a) - psi(g)||."""
        return -l2_distance(*self.encode(critic_params, obs, action, goal))

    def _collect(self, state: TrainState, steps: int) -> tuple[TrainState, dict[str, jax.Array]]:
        """Step every env ``steps`` times with the stochastic actor and store the steps."""
        key, collect_key = jax.random.split(state.key)

        def one_step(carry, step_key):
            env_state, episode = carry
            action = self.act(state.actor_params, env_state.obs, env_state.goal, step_key)
            next_state = jax.vmap(self.env.step)(env_state, action)
            record = (env_state.obs, action, env_state.achieved_goal, episode)
            episode = episode + next_state.done.astype(jnp.int32)
            return (next_state, episode), (record, next_state.metrics["success"], next_state.done)

        (env_state, episode), (records, success, done) = jax.lax.scan(
            one_step, (state.env_state, state.episode), jax.random.split(collect_key, steps)
        )
        buffer = state.buffer.insert(*records)
        metrics = {"collect/success": jnp.mean(success), "collect/episodes_ended": jnp.sum(done).astype(jnp.float32)}
        return state.replace(env_state=env_state, episode=episode, buffer=buffer, key=key), metrics

    def _prefill(self, state: TrainState) -> TrainState:
        if self.config.prefill_steps == 0:
            return state
        return self._collect(state, self.config.prefill_steps)[0]

    # ----------------------------------------------------------------- learning
    def _update(self, state: TrainState, key: jax.Array) -> tuple[TrainState, dict[str, jax.Array]]:
        """One gradient step: actor + temperature, then critic, on one relabelled minibatch."""
        cfg = self.config
        sample_key, action_key = jax.random.split(key)
        batch = state.buffer.sample(sample_key, cfg.batch_size, cfg.gamma)
        obs, action, goal = batch["obs"], batch["action"], batch["goal"]

        def actor_objective(actor_params):
            mean, log_std = self.actor.apply(actor_params, obs, goal)
            policy_action, log_prob = sample_action(mean, log_std, action_key)
            q = self.q_value(state.critic_params, obs, policy_action, goal)
            loss, metrics = actor_loss(log_prob, q, jnp.exp(state.log_alpha))
            return loss, (metrics, log_prob)

        (_, (actor_metrics, log_prob)), actor_grads = jax.value_and_grad(actor_objective, has_aux=True)(state.actor_params)
        actor_params, actor_opt = self._apply(actor_grads, state.actor_opt, state.actor_params)

        (_, alpha_metrics), alpha_grad = jax.value_and_grad(alpha_loss, has_aux=True)(
            state.log_alpha, log_prob, self.target_entropy
        )
        log_alpha, alpha_opt = self._apply(alpha_grad, state.alpha_opt, state.log_alpha)

        def critic_objective(critic_params):
            return critic_loss(*self.encode(critic_params, obs, action, goal), cfg.logsumexp_penalty)

        (_, critic_metrics), critic_grads = jax.value_and_grad(critic_objective, has_aux=True)(state.critic_params)
        critic_params, critic_opt = self._apply(critic_grads, state.critic_opt, state.critic_params)

        metrics = {f"train/{k}": v for k, v in {**actor_metrics, **alpha_metrics, **critic_metrics}.items()}
        metrics["train/valid_goal_fraction"] = jnp.mean(batch["valid"])
        new_state = state.replace(
            actor_params=actor_params,
            critic_params=critic_params,
            log_alpha=log_alpha,
            actor_opt=actor_opt,
            critic_opt=critic_opt,
            alpha_opt=alpha_opt,
        )
        return new_state, metrics

    def _apply(self, grads: Any, opt_state: Any, params: Any) -> tuple[Any, Any]:
        """One Adam step: returns (new params, new optimizer state)."""
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def _updates(self, state: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
        """One iteration's gradient steps; metrics averaged over them."""
        key, update_key = jax.random.split(state.key)
        update_keys = jax.random.split(update_key, self.config.updates_per_iteration)
        state, update_metrics = jax.lax.scan(self._update, state.replace(key=key), update_keys)
        return state, _mean_tree(update_metrics)

    def _iteration(self, state: TrainState, _: None) -> tuple[TrainState, dict[str, jax.Array]]:
        state, collect_metrics = self._collect(state, self.config.unroll_length)
        state, update_metrics = self._updates(state)
        return state, {**update_metrics, **collect_metrics}

    def _insert(self, state: TrainState, rows: tuple[jax.Array, ...]) -> TrainState:
        """Host path: store rows ``(obs, actions, achieved goals, episode)``, each (steps, num_envs, ...)."""
        return state.replace(buffer=state.buffer.insert(*rows))

    def _learn_from(self, state: TrainState, rows: tuple[jax.Array, ...]) -> tuple[TrainState, dict[str, jax.Array]]:
        """Host path: one iteration on rows collected on the host (insert, then the gradient steps)."""
        return self._updates(self._insert(state, rows))

    def _train(self, state: TrainState, iterations: int) -> tuple[TrainState, dict[str, jax.Array]]:
        """``iterations`` training iterations in one program; metrics averaged over them."""
        state, metrics = jax.lax.scan(self._iteration, state, None, length=iterations)
        return state, _mean_tree(metrics)
