"""The device path: gcrl_depth's own envs, whose pure-JAX core steps inside the compiled programs.

Where DeepCRL's envs come from: the training core behind an id or env, and the evaluation env.

gcrl_depth's own envs train on the device path: DeepCRL steps their pure-JAX core, not the
Gymnasium object it was given, so Gymnasium wrappers cannot act on training. Wrappers that ``gym.make`` adds on its own
(order enforcing, the passive checker) change nothing and are accepted; a ``TimeLimit``
(``gym.make(id, max_episode_steps=N)``) is honoured as the task option ``episode_length``
(the shorter of N and the task's); any other wrapper (``RescaleAction``, ...) is refused
with an error naming it, instead of being dropped silently. Every other goal env trains on
the host path (:mod:`gcrl_depth.crl.env_paths.host`).

Training collects inside the compiled epoch (:class:`DeviceCollector`, one call per epoch;
with a mesh, one run's envs split over devices); evaluation is one compiled rollout
(:func:`device_evaluation`).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import gymnasium as gym
import jax
import numpy as np

from gcrl_depth.crl.engine import compiled, devices
from gcrl_depth.crl.engine.devices import data_mesh
from gcrl_depth.crl.engine.train import AgentState, Engine, TrainState
from gcrl_depth.crl.env_paths.host import check_eval_env, evaluation_length
from gcrl_depth.crl.env_paths.protocol import Closers, Collector, actor_policy
from gcrl_depth.envs import env_id, eval_env_id, is_gcrl_id, task_name
from gcrl_depth.envs.core import GoalEnv
from gcrl_depth.envs.gym_api import GcrlGoalEnv, GcrlVectorEnv, shared_core
from gcrl_depth.evaluation import EvaluationResult, evaluate, evaluation_keys, summarise
from gcrl_depth.goal_envs import EnvSizes, GivenEnv

HARMLESS_WRAPPERS = ("OrderEnforcing", "PassiveEnvChecker")
WRAPPER_ADVICE = {
    "RescaleAction": "gcrl_depth actions are always in [-1, 1]; rescale inside the task instead",
}


def is_device_env(given: GivenEnv) -> bool:
    """Whether DeepCRL trains an env on the device path: a gcrl_depth id or env (else the host path)."""
    if isinstance(given.env, str):
        return is_gcrl_id(given.env)
    if isinstance(given.inner, (GcrlVectorEnv, GcrlGoalEnv)):
        return True
    return isinstance(getattr(given.first, "unwrapped", None), GcrlGoalEnv)  # refused by unwrap_env


class DeviceSource(NamedTuple):
    """What the device path trains: a core, its task name and options (None and {} for a core
    instance), the vector env given (if any) and its ``num_envs``."""

    core: GoalEnv
    task: str | None
    task_kwargs: dict[str, Any]
    vector_env: gym.vector.VectorEnv | None = None
    num_envs: int | None = None


def unwrap_env(given: GivenEnv) -> DeviceSource:
    """The :class:`DeviceSource` of an env id or gcrl_depth env."""
    env, unwrapped = given.env, given.inner
    if isinstance(env, str):
        task = task_name(env)
        return DeviceSource(shared_core(task, {}), task, {})
    if isinstance(unwrapped, GcrlVectorEnv):
        _refuse_wrappers(given.wrappers)
        return DeviceSource(unwrapped.core, unwrapped.task, unwrapped.task_kwargs, env, unwrapped.num_envs)
    if isinstance(unwrapped, GcrlGoalEnv):
        limit = _refuse_wrappers(given.wrappers)
        if limit is not None and limit < unwrapped.core.episode_length:
            if unwrapped.task is None:
                raise ValueError("a TimeLimit on an env built from a core instance cannot become a task option; "
                                 "build the core with the episode length instead")
            kwargs = {**unwrapped.task_kwargs, "episode_length": limit}
            return DeviceSource(shared_core(unwrapped.task, kwargs), unwrapped.task, kwargs)
        return DeviceSource(unwrapped.core, unwrapped.task, unwrapped.task_kwargs)
    if isinstance(env, gym.vector.VectorEnv) and isinstance(getattr(given.first, "unwrapped", None), GcrlGoalEnv):
        raise TypeError(f"DeepCRL cannot train through a {type(env).__name__} of single envs; make the gcrl_depth vector "
                        "env instead: gym.make_vec(id, num_envs=N) (its default vectorization)")
    raise TypeError(
        "DeepCRL needs a gcrl_depth env id (e.g. 'gcrl_depth/PointUMaze-v0') or a gcrl_depth Gymnasium env "
        f"(gym.make / gym.make_vec of such an id); got {type(env).__name__}"
    )


def _refuse_wrappers(wrappers: tuple[Any, ...]) -> int | None:
    """Refuse the wrappers DeepCRL cannot honour; returns the shortest ``TimeLimit`` (steps), if any."""
    names, limit = [], None
    for layer in wrappers:
        if isinstance(layer, gym.wrappers.TimeLimit):
            steps = int(layer._max_episode_steps)
            limit = steps if limit is None else min(limit, steps)
        elif type(layer).__name__ not in HARMLESS_WRAPPERS:
            names.append(type(layer).__name__)
    if names:
        advice = "; ".join(WRAPPER_ADVICE[n] for n in dict.fromkeys(names) if n in WRAPPER_ADVICE)
        raise ValueError(f"DeepCRL trains on the env's JAX core and cannot apply the Gymnasium wrappers {names}"
                         + (f": {advice}" if advice else "; pass the unwrapped env (gym.make / gym.make_vec of a gcrl_depth id)"))
    return limit


def resolve_eval_env(eval_env: Any, task: str | None, task_kwargs: dict[str, Any], core: GoalEnv) -> Any:
    """The evaluation env to use: ``eval_env`` checked against the training env's sizes, or the default.

    The default is the task's ``...Eval`` twin (farthest goals) with the training options;
    where those options have no evaluation goals (a custom ``layout``), it is the training
    env itself, with a warning.
    """
    if eval_env is None:
        if task is None:
            raise ValueError("an env built from a core instance has no id: pass eval_env, or eval_episodes=0")
        eval_env = eval_env_id(task)
        try:
            eval_core(eval_env, task_kwargs)
        except ValueError as error:
            warnings.warn(f"the evaluation twin {eval_env} does not accept these env options ({error}); "
                          f"evaluating on the training env {env_id(task)} instead (pass eval_env= to choose)", stacklevel=3)
            eval_env = env_id(task)
    if not isinstance(eval_env, str) and not isinstance(getattr(eval_env, "unwrapped", None), GcrlVectorEnv):
        raise TypeError(f"eval_env must be a gcrl_depth env id or gym.make_vec of one, got {type(eval_env).__name__}")
    sizes, eval_sizes = EnvSizes.of(core).as_dict(), EnvSizes.of(eval_core(eval_env, task_kwargs)).as_dict()
    if eval_sizes != sizes:
        raise ValueError(f"eval_env sizes {eval_sizes} differ from the training env's {sizes}")
    return eval_env


def eval_core(eval_env: str | gym.vector.VectorEnv, task_kwargs: dict[str, Any]) -> GoalEnv:
    """The core an evaluation env id (with the training options) or gcrl_depth vector env steps."""
    if isinstance(eval_env, str):
        return shared_core(task_name(eval_env), eval_options(task_kwargs))
    return eval_env.unwrapped.core


def eval_options(task_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The training env's options as the evaluation env takes them (its goals are its own)."""
    return {k: v for k, v in task_kwargs.items() if k != "eval_goals"}


def evaluation_env(task: str, task_kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The id and options of a task's evaluation env: its ``...Eval`` twin (the farthest goals)
    where it has one, with the training env's options."""
    return eval_env_id(task), eval_options(task_kwargs)


class DevicePath(Closers):
    """gcrl_depth's own envs: the pure-JAX core steps inside the compiled programs."""

    def __init__(self, source: DeviceSource, eval_env: Any, eval_episodes: int, data_parallel: int = 1) -> None:
        super().__init__()
        self.core, self.task, self.task_kwargs, self.given, _ = source
        self.sizes = EnvSizes.of(self.core)
        self.data_parallel = data_parallel
        self.eval_env = resolve_eval_env(eval_env, self.task, self.task_kwargs, self.core) if eval_episodes > 0 else eval_env

    @property
    def env_id(self) -> str | None:
        return None if self.task is None else env_id(self.task)

    def collector(self, engine: Engine) -> Collector:
        return DeviceCollector(engine, data_mesh(self.data_parallel) if self.data_parallel > 1 else None)

    def evaluation(self, episodes: int) -> tuple[GoalEnv, int]:
        """The evaluation env's core and the episodes per evaluation (a vector eval env fixes them)."""
        if self.eval_env is None:
            self.eval_env = resolve_eval_env(None, self.task, self.task_kwargs, self.core)
        if not isinstance(self.eval_env, str):
            episodes = self.eval_env.unwrapped.num_envs
        return eval_core(self.eval_env, self.task_kwargs), max(1, episodes)

    def evaluate(self, engine: Engine, actor: Any, episodes: int, seed: int) -> EvaluationResult:
        core, episodes = self.evaluation(episodes)
        return device_evaluation(engine, actor, core, episodes, seed)

    def evaluate_on(self, engine: Engine, actor: Any, env: gym.vector.VectorEnv, seed: int) -> EvaluationResult:
        if isinstance(env.unwrapped, GcrlVectorEnv):
            sizes = EnvSizes.of(env.unwrapped.core)
            if sizes != self.sizes:
                raise ValueError(f"evaluate(env=...): env sizes {sizes.as_dict()} differ from the model's {self.sizes.as_dict()}")
            return device_evaluation(engine, actor, env.unwrapped.core, env.unwrapped.num_envs, seed)
        check_eval_env(env, self.sizes, self.given)
        return evaluate(actor_policy(engine, actor), env, seed=seed, max_steps=evaluation_length(env))

    def get_env(self, num_envs: int) -> gym.vector.VectorEnv:
        if self.given is None:
            self.given = GcrlVectorEnv(self.task or self.core, num_envs=num_envs, **self.task_kwargs)
        return self.given

    def record(self) -> dict[str, Any]:
        return {"env_id": self.env_id, "task_kwargs": self.task_kwargs}


class DeviceCollector:
    """Collection inside the compiled training program (envs with a pure-JAX core); with a
    ``mesh``, the engine's data shards run on its devices (:mod:`gcrl_depth.crl.engine.devices`)."""

    def __init__(self, engine: Engine, mesh: Any = None) -> None:
        self.engine, self.mesh = engine, mesh

    def _placed(self, state: TrainState) -> TrainState:
        """Data parallel: the state laid out over the mesh as the programs expect (a no-op when it is)."""
        return state if self.mesh is None else devices.place(state, self.mesh)

    def start(self, state: AgentState | TrainState) -> TrainState:
        if self.mesh is not None:
            return compiled.data_parallel_start(self._placed(state), self.engine, self.mesh)
        return compiled.start(state, self.engine)

    def prefill(self, state: TrainState) -> TrainState:
        if self.mesh is not None:
            return compiled.data_parallel_prefill(self._placed(state), self.engine, self.mesh)
        return compiled.prefill(state, self.engine)

    def train(self, state: TrainState, iterations: int) -> tuple[TrainState, dict[str, float]]:
        if self.mesh is not None:
            state, metrics = compiled.data_parallel_epoch(self._placed(state), self.engine, self.mesh, iterations)
        else:
            state, metrics = compiled.epoch(state, self.engine, iterations)
        return state, {k: float(v) for k, v in jax.device_get(metrics).items()}


def device_evaluation(engine: Engine, actor: Any, core: GoalEnv, episodes: int, seed: int) -> EvaluationResult:
    """``episodes`` episodes of ``core`` as one compiled rollout; with the same ``seed`` the same starts
    and goals as :func:`~gcrl_depth.evaluation.evaluate` on a vector env of ``core``."""
    at_goal, distance = compiled.evaluate(actor, evaluation_keys(seed, episodes), engine, core)
    return summarise(np.asarray(at_goal), np.asarray(distance), core.episode_length)
