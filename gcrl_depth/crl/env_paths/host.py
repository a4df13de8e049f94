"""The host path: any other Gymnasium goal env, ``num_envs`` copies stepped on the host.

Any Gymnasium env whose observation is a goal-env Dict of flat boxes and whose actions are
a flat box in [-1, 1] (gymnasium-robotics' mazes, a user's own) trains through
:class:`~gcrl_depth.crl.env_paths.host.HostCollector`. A :class:`HostEnv` holds what DeepCRL
was given (an id, a single env or a vector env), builds the training vector env of
``num_envs`` copies and the evaluation envs, and records what rebuilds them in a checkpoint.

:class:`HostCollector` steps them (:class:`~gcrl_depth.crl.env_paths.stepper.EnvStepper`, one
batched policy call per step), and each iteration's rows go to the device buffer with its
gradient steps in one compiled call.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from gcrl_depth.crl.engine import compiled
from gcrl_depth.crl.engine.train import AgentState, Engine, TrainState
from gcrl_depth.crl.env_paths.protocol import Closers, Collector, actor_policy
from gcrl_depth.crl.env_paths.stepper import EnvStepper, Rows
from gcrl_depth.evaluation import EvaluationResult, evaluate
from gcrl_depth.goal_envs import (
    GOAL_KEYS,
    EnvSizes,
    GivenEnv,
    check_goal_space,
    episode_length,
    registered_spec,
    vector_goal_env,
)
from gcrl_depth.interrupts import ignoring_interrupts

VECTOR_ONLY_KWARGS = ("num_envs", "vectorization_mode", "vector_kwargs", "wrappers")
VECTORIZATION_MODES = ("sync", "async")
EnvSpec = gym.envs.registration.EnvSpec


@dataclasses.dataclass
class HostEnv:
    """A goal env stepped on the host.

    Attributes:
        env_id: its id as given (``"module:Id"`` keeps the module that registers it), or
            None for an env that was never registered.
        env_kwargs: the kwargs that, with ``env_id``, rebuild it (``gym.make_vec(env_id, n, **env_kwargs)``).
        vectorization_mode: ``"sync"`` or ``"async"``, how a rebuilt vector env steps its copies.
        vector_kwargs: the vector env's own kwargs (e.g. ``{"context": "spawn"}``).
        given: the env object DeepCRL was given, if any (a single env or a vector env).
        spec: the single env's spec, when known: copies for evaluation are made from it.
        unrecordable: why ``env_id`` and ``env_kwargs`` cannot rebuild the env, if they cannot.
    """

    env_id: str | None
    env_kwargs: dict[str, Any]
    vectorization_mode: str = "sync"
    vector_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    given: gym.Env | gym.vector.VectorEnv | None = None
    spec: EnvSpec | None = None
    unrecordable: str | None = None

    @property
    def num_envs(self) -> int | None:
        """The copies a given vector env fixes (None: DeepCRL's ``num_envs`` decides)."""
        return self.given.num_envs if isinstance(self.given, gym.vector.VectorEnv) else None

    def training_envs(self, num_envs: int) -> gym.vector.VectorEnv:
        """The vector env training steps: the given one, or ``num_envs`` copies of the env."""
        if isinstance(self.given, gym.vector.VectorEnv):
            return self.given
        if self.given is not None:
            return _copies(self.given, num_envs)
        return checked(_make_vec(self.env_id, num_envs, self.vectorization_mode, self.vector_kwargs, self.env_kwargs),
                       self.env_id, close_on_error=True)

    def eval_envs(self, episodes: int) -> gym.vector.VectorEnv:
        """``episodes`` fresh copies of the env (one evaluation episode each), stepped in this process."""
        if self.spec is not None and self.spec.id in gym.registry:
            return gym.vector.SyncVectorEnv([functools.partial(gym.make, _without_rendering(self.spec))] * episodes)
        if self.env_id is None:
            raise ValueError("DeepCRL evaluates on fresh copies of the training env, built from its registered id, "
                             "and this env has none: register it (gym.register(id, entry_point=..., "
                             "max_episode_steps=...)), or pass eval_env= (an id or vector env), or eval_episodes=0")
        return vector_goal_env(self.env_id, episodes, **self.env_kwargs)

    def record(self) -> dict[str, Any]:
        """What a checkpoint keeps to rebuild the env (``task_kwargs`` None where it cannot)."""
        try:
            kwargs = json.loads(json.dumps(self.env_kwargs))
            vector_kwargs = json.loads(json.dumps(self.vector_kwargs))
        except (TypeError, ValueError):
            kwargs, vector_kwargs = None, {}
        return {"env_id": self.env_id, "task_kwargs": None if self.unrecordable else kwargs, "env_path": "host",
                "vectorization_mode": self.vectorization_mode, "vector_kwargs": vector_kwargs,
                "unrecordable": self.unrecordable or (None if kwargs is not None else "kwargs that are not JSON")}


def host_env(given: GivenEnv) -> HostEnv:
    """The :class:`HostEnv` of an env id, a single Gymnasium env or a vector env (goal envs only)."""
    env, spec = given.env, given.spec
    if isinstance(env, str):
        spec = registered_spec(env)
        probe = gym.make(spec.id)  # one env to check the spaces before building many
        try:
            checked_spaces(probe.observation_space, probe.action_space, env)
        finally:
            probe.close()
        module = _entry_module(spec)
        return HostEnv(env if ":" in env or not module else f"{module}:{spec.id}", {})
    if isinstance(env, gym.vector.VectorEnv):
        checked(env, getattr(spec, "id", type(env).__name__))
        default_mode = "async" if isinstance(env, gym.vector.AsyncVectorEnv) else "sync"
        mode = (spec.kwargs.get("vectorization_mode") if spec is not None else None) or default_mode
        vector_kwargs = (spec.kwargs.get("vector_kwargs") if spec is not None else None) or {}
        return _from_spec(spec, mode if mode in VECTORIZATION_MODES else "sync", vector_kwargs, given)
    if isinstance(env, gym.Env):
        checked_spaces(env.observation_space, env.action_space, getattr(env.spec, "id", type(env.unwrapped).__name__))
        return _from_spec(env.spec, "sync", {}, given)
    raise TypeError(f"DeepCRL needs an env id, a Gymnasium goal env or a vector goal env; got {type(env).__name__}")


def checked(envs: gym.vector.VectorEnv, name: Any, close_on_error: bool = False) -> gym.vector.VectorEnv:
    """``envs`` if its spaces suit DeepCRL (closing it first where it does not and ``close_on_error``)."""
    try:
        checked_spaces(envs.single_observation_space, envs.single_action_space, name)
    except (TypeError, ValueError):
        if close_on_error:
            envs.close()
        raise
    return envs


def checked_spaces(observation_space: gym.Space, action_space: gym.Space, name: Any) -> None:
    """Raise a clear error unless the spaces are a goal-env Dict of flat boxes and a flat box in [-1, 1]."""
    check_goal_space(observation_space, f"env {name}")
    for key in GOAL_KEYS:
        space = observation_space[key]
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise TypeError(f"env {name}: DeepCRL needs observation[{key!r}] to be a flat Box (shape (n,)); got {space}")
    bounded = isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1
    if not bounded or not (np.all(action_space.low == -1) and np.all(action_space.high == 1)):
        raise ValueError(f"env {name}: DeepCRL's actor acts in [-1, 1] and needs a flat Box action space with those "
                         f"bounds; got {action_space}. Wrap the env: gym.wrappers.RescaleAction(env, -1.0, 1.0) "
                         "(continuous actions only)")


def rebuild(record: dict[str, Any], num_envs: int, path: str) -> gym.vector.VectorEnv:
    """The training vector env of a checkpoint's :meth:`HostEnv.record`; says what to pass where it cannot."""
    env_id, kwargs = record.get("env_id"), record.get("task_kwargs")
    if env_id is None or kwargs is None:
        why = "an env without a registered id" if env_id is None else f"{env_id} ({record.get('unrecordable')})"
        raise ValueError(f"{path!r} was trained on {why}, which cannot be rebuilt: pass env= to load")
    try:
        registered_spec(env_id)  # a "module:Id" imports its module here
    except ValueError as error:
        raise ValueError(f"{path!r} was trained on {env_id!r}, which is not registered in this process ({error}); "
                         "import or install what registers it, or pass env= to load") from error
    return _make_vec(env_id.rpartition(":")[2], num_envs, record.get("vectorization_mode", "sync"),
                     record.get("vector_kwargs") or {}, kwargs)


def check_eval_env(eval_env: Any, sizes: EnvSizes, training_envs: gym.vector.VectorEnv) -> Any:
    """``eval_env`` (None, an id or a vector goal env) if it fits the training env's sizes."""
    if eval_env is None or isinstance(eval_env, str):
        if isinstance(eval_env, str):
            registered_spec(eval_env)
        return eval_env
    if not isinstance(eval_env, gym.vector.VectorEnv):
        raise TypeError(f"eval_env must be an env id or a vector goal env (gym.make_vec), got {type(eval_env).__name__}")
    if eval_env is training_envs:
        raise ValueError("eval_env is the training env: evaluating on it would cut the training episodes; "
                         "pass another vector env (or an id)")
    check_goal_space(eval_env.single_observation_space, "eval_env")
    if EnvSizes.of_vector_env(eval_env) != sizes:
        raise ValueError(f"eval_env sizes {EnvSizes.of_vector_env(eval_env)} differ from the training env's {sizes}")
    return eval_env


def evaluation_length(envs: gym.vector.VectorEnv) -> int:
    """Steps per evaluation episode of a host env; a clear error where the env registers none."""
    length = episode_length(envs)
    if length is None:
        raise ValueError("DeepCRL's evaluation needs the episode length and this env registers no max_episode_steps: "
                         "register it with max_episode_steps=N, wrap it in gym.wrappers.TimeLimit, or pass eval_episodes=0")
    return length


def close_built(envs: gym.vector.VectorEnv, host: HostEnv) -> None:
    """Close what :meth:`HostEnv.training_envs` built for ``host``, never an env the user gave."""
    if host.given is None:
        envs.close()
    elif not isinstance(host.given, gym.vector.VectorEnv):
        for copy in envs.envs[1:]:  # envs[0] is the user's env
            copy.close()


def _make_vec(env_id: str, num_envs: int, mode: str, vector_kwargs: dict[str, Any], kwargs: dict[str, Any]) -> gym.vector.VectorEnv:
    """``gym.make_vec``; async workers ignore SIGINT (training defers a Ctrl-C and needs its envs after it)."""
    hooks = {"wrappers": [ignoring_interrupts]} if mode == "async" else {}
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, vector_kwargs=vector_kwargs, **hooks, **kwargs)


def _from_spec(spec: EnvSpec | None, mode: str, vector_kwargs: dict[str, Any], given: GivenEnv) -> HostEnv:
    if spec is None:
        return HostEnv(None, {}, mode, vector_kwargs, given.env)
    kwargs = {k: v for k, v in spec.kwargs.items() if k not in VECTOR_ONLY_KWARGS}
    registered = gym.registry.get(spec.id)
    if spec.max_episode_steps is not None and registered is not None and registered.max_episode_steps != spec.max_episode_steps:
        kwargs.setdefault("max_episode_steps", spec.max_episode_steps)
    module = _entry_module(spec)
    env_id = None if registered is None else (f"{module}:{spec.id}" if module else spec.id)
    wrappers = [w.name for w in spec.additional_wrappers or ()] + [
        getattr(w, "__name__", repr(w)) for w in spec.kwargs.get("wrappers") or () if w is not ignoring_interrupts]
    unrecordable = f"the wrappers {wrappers} are not recorded" if wrappers else None
    single_spec = spec if not isinstance(given.env, gym.vector.VectorEnv) else getattr(given.first, "spec", None)
    return HostEnv(env_id, kwargs, mode, vector_kwargs, given.env, single_spec, unrecordable)


def _entry_module(spec: EnvSpec) -> str | None:
    """The top-level package of a string entry point (``pkg.mod:Class`` -> ``pkg``), if it is importable by name."""
    if not isinstance(spec.entry_point, str):
        return None
    module = spec.entry_point.split(":")[0].split(".")[0]
    return None if module == "__main__" else module


def _copies(env: gym.Env, num_envs: int) -> gym.vector.VectorEnv:
    """A sync vector env of ``env`` and ``num_envs - 1`` copies made from its spec."""
    if num_envs == 1:
        return gym.vector.SyncVectorEnv([lambda: env])
    if env.spec is None or env.spec.id not in gym.registry:
        raise ValueError(f"DeepCRL needs num_envs={num_envs} copies of this env and cannot make them: it has no "
                         "registered id. Register it (gym.register), pass a vector env (gym.vector.SyncVectorEnv"
                         "([make_env] * N)), or num_envs=1")
    make = functools.partial(gym.make, _without_rendering(env.spec))
    return gym.vector.SyncVectorEnv([lambda: env] + [make] * (num_envs - 1))


def _without_rendering(spec: EnvSpec) -> EnvSpec:
    """``spec`` without a ``render_mode``: copies for training and evaluation draw nothing."""
    return dataclasses.replace(spec, kwargs={k: v for k, v in spec.kwargs.items() if k != "render_mode"})


class HostPath(Closers):
    """Any other Gymnasium goal env: ``num_envs`` copies stepped on the host."""

    def __init__(self, host: HostEnv, num_envs: int, eval_env: Any, eval_episodes: int) -> None:
        super().__init__()
        self.host, self.core, self.task_kwargs = host, None, host.env_kwargs
        self.envs = host.training_envs(num_envs)
        self.own(functools.partial(close_built, self.envs, host))
        try:
            self.sizes = EnvSizes.of_vector_env(self.envs)
            self.eval_env = check_eval_env(eval_env, self.sizes, self.envs) if eval_episodes > 0 else eval_env
            self._eval_envs = self._build_eval_envs(eval_episodes) if eval_episodes > 0 else None
        except BaseException:
            self.close()
            raise

    @property
    def env_id(self) -> str | None:
        return self.host.env_id

    def collector(self, engine: Engine) -> Collector:
        return HostCollector(engine, self.envs)

    def _build_eval_envs(self, episodes: int) -> gym.vector.VectorEnv:
        """``eval_env`` as given or built, else copies of the training env."""
        if isinstance(self.eval_env, gym.vector.VectorEnv):
            envs = self.eval_env
        else:
            episodes = max(1, episodes)
            envs = vector_goal_env(self.eval_env, episodes) if self.eval_env else self.host.eval_envs(episodes)
            self.own(envs.close)
            check_eval_env(envs, self.sizes, self.envs)
        evaluation_length(envs)
        return envs

    def evaluate(self, engine: Engine, actor: Any, episodes: int, seed: int) -> EvaluationResult:
        if self._eval_envs is None:
            self.eval_env = check_eval_env(self.eval_env, self.sizes, self.envs)
            self._eval_envs = self._build_eval_envs(episodes)
        return evaluate(actor_policy(engine, actor), self._eval_envs, seed=seed,
                        max_steps=evaluation_length(self._eval_envs))

    def evaluate_on(self, engine: Engine, actor: Any, env: gym.vector.VectorEnv, seed: int) -> EvaluationResult:
        check_eval_env(env, self.sizes, self.envs)
        return evaluate(actor_policy(engine, actor), env, seed=seed, max_steps=evaluation_length(env))

    def get_env(self, num_envs: int) -> gym.vector.VectorEnv:
        return self.envs

    def record(self) -> dict[str, Any]:
        return {"env_id": self.env_id, "task_kwargs": self.task_kwargs, **self.host.record()}


class HostCollector:
    """Collection from a Gymnasium vector goal env stepped on the host.

    The envs are reset when a training state first collects (their seed drawn from the
    state's key); episode ids continue from the state's, so a resumed buffer's episodes
    stay apart from the new ones. The envs' own state is not part of the training state: a
    resumed run starts new episodes.
    """

    def __init__(self, engine: Engine, envs: gym.vector.VectorEnv) -> None:
        self.engine, self.envs = engine, envs
        self.stepper: EnvStepper | None = None

    def start(self, state: AgentState | TrainState) -> TrainState:
        self.stepper = None
        return compiled.start(state, self.engine)

    def prefill(self, state: TrainState) -> TrainState:
        state = self._ready(state)
        if self.engine.config.prefill_steps == 0:
            return state
        rows, _, state = self._collect(state, self.engine.config.prefill_steps)
        return compiled.insert(state, rows, self.engine)

    def train(self, state: TrainState, iterations: int) -> tuple[TrainState, dict[str, float]]:
        state = self._ready(state)
        collected, updated = [], []
        for _ in range(iterations):
            rows, collect_metrics, state = self._collect(state, self.engine.config.unroll_length)
            state, update_metrics = compiled.learn_from(state, rows, self.engine)
            collected.append(collect_metrics)
            updated.append(update_metrics)
        metrics = {k: float(np.mean([m[k] for m in collected if k in m])) for k in dict.fromkeys(k for m in collected for k in m)}
        metrics.update({k: float(np.mean(v)) for k, v in jax.device_get(_stack(updated)).items()})
        return state, metrics

    def _ready(self, state: TrainState) -> TrainState:
        """Reset the envs for a state that has not collected yet; its episode ids continue
        after every id the state and its buffer hold."""
        if self.stepper is not None:
            return state
        key, reset_key = jax.random.split(state.key)
        seed = int(jax.random.randint(reset_key, (), 0, np.iinfo(np.int32).max))
        used = np.maximum(np.asarray(state.episode), np.asarray(jnp.max(state.buffer.episode, axis=0)))
        self.stepper = EnvStepper(self.envs, seed=seed, episode=used)
        return state.replace(key=key)

    def _collect(self, state: TrainState, steps: int) -> tuple[Rows, dict[str, float], TrainState]:
        """``steps`` rows per env with the stochastic actor; the state's key and episode ids move on."""
        explorer = _Explorer(self.engine, state.learner.params.actor, state.key)
        rows, metrics = self.stepper.collect(explorer, steps)
        return rows, metrics, state.replace(key=explorer.key, episode=jnp.asarray(self.stepper.episode))


class _Explorer:
    """The stochastic actor as a host policy: one compiled call per step, the key carried along."""

    def __init__(self, engine: Engine, actor: Any, key: jax.Array) -> None:
        self.engine, self.actor, self.key = engine, actor, key

    def __call__(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        actions, self.key = compiled.explore(self.actor, self.key, jnp.asarray(obs), jnp.asarray(goal), self.engine)
        return np.asarray(actions)


def _stack(metrics: list[dict[str, jax.Array]]) -> dict[str, jax.Array]:
    return {k: jnp.stack([m[k] for m in metrics]) for k in metrics[0]}
