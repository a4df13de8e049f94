"""DeepCRL: deep contrastive RL behind stable-baselines3's API (learn, predict, save, load).

>>> model = DeepCRL("gcrl_depth/PointUMaze-v0", depth=16, num_envs=32)  # doctest: +SKIP
>>> model.learn(200_000, progress_bar=True)                             # doctest: +SKIP
>>> action, _ = model.predict(obs, deterministic=True)                  # doctest: +SKIP

Training runs in *epochs*: one compiled program of several training iterations (collect
``num_envs x unroll_length`` steps, then the gradient steps), after which the host
evaluates, logs, updates the progress bar and calls the callbacks. Everything else (the
networks, losses, buffer and the jitted programs) lives in :mod:`gcrl_depth.crl.training`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import jax
import numpy as np
from tqdm.auto import tqdm

from gcrl_depth.callbacks import as_callback
from gcrl_depth.crl import checkpoint
from gcrl_depth.crl.config import CRLConfig
from gcrl_depth.crl.training import LEARNER_FIELDS, TrainState, shared_trainer
from gcrl_depth.envs import env_id, eval_env_id, task_name
from gcrl_depth.envs.core import GoalEnv
from gcrl_depth.envs.gym_api import GcrlGoalEnv, GcrlVectorEnv, shared_core
from gcrl_depth.evaluation import EvaluationHistory, EvaluationResult, evaluate
from gcrl_depth.logger import Logger

DEFAULT_EPOCH_TIMESTEPS = 1_000_000  # env steps between evaluations (the paper's ~1M)
DEFAULT_EVAL_EPISODES = 128  # the paper's evaluation envs


class DeepCRL:
    """Contrastive RL with deep residual actor and critic, trained on a gcrl_depth env.

    Args:
        env: a gcrl_depth env id (``"gcrl_depth/AntBigMaze-v0"``) or a gcrl_depth Gymnasium
            env, single (``gym.make``) or vector (``gym.make_vec``: its ``num_envs`` is used).
        depth: Dense layers per residual tower of actor and critic (multiple of 4).
        seed: seed of parameters, training envs, replay sampling and evaluation goals.
        eval_env: where to evaluate: an env id or vector env; default the task's
            ``...Eval`` twin for mazes (farthest goals), else the task itself.
        eval_episodes: episodes per evaluation (0 turns evaluation off).
        epoch_timesteps: env steps per epoch (evaluation, logging and callbacks happen
            between epochs); rounded to whole training iterations.
        verbose: 0 silent, 1 prints a log table after every ``log_interval`` epochs.
        log_dir: folder for ``progress.csv`` and TensorBoard events; None writes neither.
        **config: any :class:`~gcrl_depth.crl.config.CRLConfig` field (``width``,
            ``batch_size``, ``num_envs``, ``actor_depth``, ...).
    """

    def __init__(
        self,
        env: str | gym.Env | gym.vector.VectorEnv,
        depth: int = 4,
        seed: int = 0,
        *,
        eval_env: str | gym.vector.VectorEnv | None = None,
        eval_episodes: int = DEFAULT_EVAL_EPISODES,
        epoch_timesteps: int = DEFAULT_EPOCH_TIMESTEPS,
        verbose: int = 1,
        log_dir: str | None = None,
        **config: Any,
    ) -> None:
        self.core, self.task, self.task_kwargs, env_num_envs = _unwrap_env(env)
        if env_num_envs is not None:
            if "num_envs" in config and config["num_envs"] != env_num_envs:
                raise ValueError(f"num_envs={config['num_envs']} conflicts with the vector env's num_envs={env_num_envs}")
            config["num_envs"] = env_num_envs
        self.config = CRLConfig.from_dict({"depth": depth, **config})
        for name, value in (("eval_episodes", eval_episodes), ("seed", seed)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if isinstance(epoch_timesteps, bool) or not isinstance(epoch_timesteps, int) or epoch_timesteps < 1:
            raise ValueError(f"epoch_timesteps must be a positive integer, got {epoch_timesteps!r}")
        self.seed, self.eval_episodes, self.epoch_timesteps = seed, eval_episodes, epoch_timesteps
        self.verbose, self.log_dir = verbose, log_dir
        self.eval_env = eval_env if eval_env is not None else _default_eval_id(self.task)
        if self.eval_env is None and eval_episodes > 0:
            raise ValueError("an env built from a core instance has no id: pass eval_env, or eval_episodes=0")

        self.trainer = shared_trainer(self.core, self.config)
        learner_key, self._collection_key = jax.random.split(jax.random.key(seed))
        self._learner = self.trainer.init_learner(learner_key)
        self._state: TrainState | None = None
        self._eval_envs: gym.vector.VectorEnv | None = None
        self._predict_key = jax.random.key(seed + 1)
        self.num_timesteps = 0
        self.num_updates = 0
        self.eval_seconds = 0.0  # host time spent in evaluations
        self.evaluations = EvaluationHistory()
        self.logger = Logger(log_dir, _log_formats(verbose, log_dir))

    # ----------------------------------------------------------------- properties
    @property
    def iterations_per_epoch(self) -> int:
        return max(1, round(self.epoch_timesteps / self.config.env_steps_per_iteration))

    @property
    def env_id(self) -> str | None:
        return None if self.task is None else env_id(self.task)

    def get_env(self) -> None:
        """stable-baselines3 compatibility: DeepCRL steps its envs on the device, not via a Gymnasium env."""
        return None

    def learner(self) -> dict[str, Any]:
        """Current parameters, temperature and optimizer states (device arrays)."""
        if self._state is not None:
            return {name: getattr(self._state, name) for name in LEARNER_FIELDS}
        return self._learner

    # ----------------------------------------------------------------- learning
    def learn(
        self,
        total_timesteps: int,
        callback: Any = None,
        log_interval: int = 1,
        progress_bar: bool = False,
        reset_num_timesteps: bool = True,
    ) -> "DeepCRL":
        """Train for ``total_timesteps`` env steps (rounded up to whole iterations; see ``num_timesteps``).

        Args:
            total_timesteps: env steps to collect in this call (prefill included).
            callback: a :class:`~gcrl_depth.callbacks.BaseCallback`, a list of them, or
                ``fn(locals_, globals_) -> bool``; called after every epoch, False stops.
            log_interval: dump the log every this many epochs.
            progress_bar: show a tqdm bar with env steps, steps/s and time at goal.
            reset_num_timesteps: start counting at 0 (True) or continue the count (False).
        """
        if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, (int, np.integer)) or total_timesteps < 1:
            raise ValueError(f"total_timesteps must be a positive integer, got {total_timesteps!r}")
        if isinstance(log_interval, bool) or not isinstance(log_interval, int) or log_interval < 1:
            raise ValueError(f"log_interval must be a positive integer, got {log_interval!r}")
        if reset_num_timesteps:
            self.num_timesteps = 0
        target = self.num_timesteps + int(total_timesteps)
        callback = as_callback(callback)
        bar = tqdm(total=self._planned_timesteps(target), initial=self.num_timesteps, unit="step", dynamic_ncols=True,
                   disable=not progress_bar)
        log_stream = self.logger.stream
        if progress_bar:
            self.logger.stream = _TqdmStream()  # log tables print above the bar
        if callback is not None:
            callback.init_callback(self)
            callback.on_training_start(locals(), globals())
        try:
            if self._state is None:
                self._start_collection(bar)
            epoch = 0
            while self.num_timesteps < target:
                epoch += 1
                remaining = math.ceil((target - self.num_timesteps) / self.config.env_steps_per_iteration)
                metrics = self._run_epoch(min(self.iterations_per_epoch, remaining))
                evaluation = self._evaluate_now()
                bar.update(self.num_timesteps - bar.n)
                bar.set_postfix(_bar_postfix(metrics, evaluation), refresh=False)
                if epoch % log_interval == 0 or self.num_timesteps >= target:
                    self.logger.dump(self.num_timesteps)
                if callback is not None:
                    callback.update_locals({"metrics": metrics, "evaluation": evaluation, "epoch": epoch})
                    if not callback.on_step():
                        break
        finally:
            bar.close()
            self.logger.stream = log_stream
            if callback is not None:
                callback.on_training_end()
        if self.verbose:
            print(f"DeepCRL: {self.num_timesteps:,} env steps trained (requested {int(total_timesteps):,}; "
                  f"iterations collect {self.config.env_steps_per_iteration:,}), {self.num_updates:,} gradient steps")
        return self

    def _planned_timesteps(self, target: int) -> int:
        """The step count a run to ``target`` ends at: prefill (if due) plus whole iterations."""
        steps = self.num_timesteps + (self.config.prefill_steps * self.config.num_envs if self._state is None else 0)
        per_iteration = self.config.env_steps_per_iteration
        return steps + max(0, math.ceil((target - steps) / per_iteration)) * per_iteration

    def _start_collection(self, bar: tqdm) -> None:
        """Fresh training envs and replay buffer around the current parameters; then the prefill."""
        self._collection_key, key = jax.random.split(self._collection_key)
        state = self.trainer.start(self._learner, key)
        start = time.perf_counter()
        self._state = self.trainer.prefill(state)
        jax.block_until_ready(self._state.buffer.size)
        prefill = self.config.prefill_steps * self.config.num_envs
        self.num_timesteps += prefill
        self.logger.record("time/prefill_s", time.perf_counter() - start)
        bar.update(prefill)

    def _run_epoch(self, iterations: int) -> dict[str, float]:
        program, compile_s = self.trainer.compiled_train(self._state, iterations)
        start = time.perf_counter()
        self._state, metrics = program(self._state)  # the old state is donated
        metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        elapsed = time.perf_counter() - start
        env_steps = iterations * self.config.env_steps_per_iteration
        updates = iterations * self.config.updates_per_iteration
        self.num_timesteps += env_steps
        self.num_updates += updates
        metrics.update({
            "time/env_steps_per_s": env_steps / elapsed,
            "time/grad_steps_per_s": updates / elapsed,
            "time/epoch_s": elapsed,
            "time/num_updates": self.num_updates,
        })
        if compile_s:
            metrics["time/compile_s"] = compile_s
        for key, value in metrics.items():
            self.logger.record(key, value)
        return metrics

    def _evaluate_now(self) -> EvaluationResult | None:
        if self.eval_episodes == 0:
            return None
        start = time.perf_counter()
        result = self.evaluate(seed=int(np.random.default_rng([self.seed, len(self.evaluations.results)]).integers(2**31)))
        self.evaluations.add(self.num_timesteps, result)
        for key, value in result.as_metrics("eval/").items():
            self.logger.record(key, value)
        self.logger.record("eval/headline_time_at_goal", self.evaluations.headline())
        elapsed = time.perf_counter() - start
        self.eval_seconds += elapsed
        self.logger.record("time/eval_s", elapsed)
        return result

    def evaluate(self, seed: int = 0) -> EvaluationResult:
        """One evaluation of the deterministic policy on the evaluation env (``eval_episodes`` episodes)."""
        if self._eval_envs is None:
            if isinstance(self.eval_env, str):
                eval_kwargs = {k: v for k, v in self.task_kwargs.items() if k != "eval_goals"}
                self._eval_envs = gym.make_vec(self.eval_env, num_envs=max(1, self.eval_episodes), **eval_kwargs)
            else:
                self._eval_envs = self.eval_env
        return evaluate(self._batched_policy, self._eval_envs, seed=seed)

    def _batched_policy(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.trainer.policy(self.learner()["actor_params"], obs["observation"], obs["desired_goal"]))

    # ----------------------------------------------------------------- acting
    def predict(
        self, observation: Mapping[str, Any], state: Any = None, episode_start: Any = None, deterministic: bool = True
    ) -> tuple[np.ndarray, None]:
        """Actions for one Dict observation or a batch of them (numpy in, numpy out).

        Returns ``(action, None)`` as stable-baselines3 does; ``state`` and
        ``episode_start`` exist for that API and are unused (the policy is not recurrent).
        """
        if not isinstance(observation, Mapping) or not {"observation", "desired_goal"} <= set(observation):
            raise ValueError("predict expects a Dict observation with 'observation' and 'desired_goal' (numpy arrays)")
        obs = np.asarray(observation["observation"], dtype=np.float32)
        goal = np.asarray(observation["desired_goal"], dtype=np.float32)
        single = obs.ndim == 1
        expected = {"observation": (obs, self.core.observation_size), "desired_goal": (goal, self.core.goal_size)}
        for name, (array, size) in expected.items():
            if array.ndim not in (1, 2) or array.shape[-1] != size or array.ndim != obs.ndim:
                raise ValueError(f"{name} must have shape ({size},) or (batch, {size}); got {array.shape}")
        if not single and goal.shape[0] != obs.shape[0]:
            raise ValueError(f"observation and desired_goal batch sizes differ: {obs.shape[0]} vs {goal.shape[0]}")
        obs, goal = np.atleast_2d(obs), np.atleast_2d(goal)
        key = None
        if not deterministic:
            self._predict_key, key = jax.random.split(self._predict_key)
        action = np.asarray(self.trainer.policy(self.learner()["actor_params"], obs, goal, key))
        return (action[0] if single else action), None

    # ----------------------------------------------------------------- persistence
    def save(self, path: str) -> str:
        """Write a checkpoint zip atomically (``.zip`` is appended if missing); returns its path.

        It holds the config, parameters, optimizer states, PRNG key, step counts, env id
        and versions. The replay buffer is not saved: a resumed run refills it (prefill).
        """
        learner = jax.device_get(self.learner())
        key = self._state.key if self._state is not None else self._collection_key
        meta = {
            "algorithm": "DeepCRL",
            "env_id": self.env_id,
            "task_kwargs": self.task_kwargs,
            "sizes": {"observation": self.core.observation_size, "goal": self.core.goal_size, "action": self.core.action_size},
            "seed": self.seed,
            "num_timesteps": self.num_timesteps,
            "num_updates": self.num_updates,
            "agent": {"eval_episodes": self.eval_episodes, "epoch_timesteps": self.epoch_timesteps,
                      "eval_env": self.eval_env if isinstance(self.eval_env, str) else None},
            "evaluations": [{"env_steps": s, **dataclasses.asdict(r)} for s, r in zip(self.evaluations.env_steps, self.evaluations.results)],
        }
        params = {name: learner[name] for name in ("actor_params", "critic_params", "log_alpha")}
        optimizer = {name: learner[name] for name in ("actor_opt", "critic_opt", "alpha_opt")}
        optimizer["key"] = np.asarray(jax.random.key_data(key))
        return checkpoint.write_checkpoint(path, self.config.to_dict(), meta, params, optimizer)

    @classmethod
    def load(cls, path: str, env: str | gym.Env | gym.vector.VectorEnv | None = None, **kwargs: Any) -> "DeepCRL":
        """Rebuild an agent from :meth:`save`'s zip; ``env`` defaults to the saved env id and options.

        ``kwargs`` override agent settings (``verbose``, ``log_dir``, ``eval_episodes``, ...).
        """
        config, meta, params_bytes, optimizer_bytes = checkpoint.read_checkpoint(path)
        if env is None:
            if meta["env_id"] is None:
                raise ValueError(f"{path!r} was trained on an env without an id: pass env=")
            env = gym.make_vec(meta["env_id"], num_envs=config["num_envs"], **meta["task_kwargs"])
        settings = {"seed": meta["seed"], **meta["agent"], **kwargs}
        if settings.get("eval_env") is None:
            settings.pop("eval_env", None)
        if isinstance(env, gym.vector.VectorEnv) and config["num_envs"] != env.unwrapped.num_envs:
            config = {**config, "num_envs": env.unwrapped.num_envs}
        depth = config.pop("depth")
        model = cls(env, depth, **settings, **config)
        sizes = {"observation": model.core.observation_size, "goal": model.core.goal_size, "action": model.core.action_size}
        if sizes != meta["sizes"]:
            raise ValueError(f"env sizes {sizes} differ from the checkpoint's {meta['sizes']}")
        learner = jax.device_get(model._learner)
        params = checkpoint.restore({k: learner[k] for k in ("actor_params", "critic_params", "log_alpha")}, params_bytes, "parameters")
        optimizer_target = {k: learner[k] for k in ("actor_opt", "critic_opt", "alpha_opt")}
        optimizer_target["key"] = np.asarray(jax.random.key_data(model._collection_key))
        optimizer = checkpoint.restore(optimizer_target, optimizer_bytes, "optimizer states")
        model._collection_key = jax.random.wrap_key_data(optimizer.pop("key"))
        model._learner = jax.device_put({**params, **optimizer})
        model.num_timesteps, model.num_updates = meta["num_timesteps"], meta["num_updates"]
        for record in meta["evaluations"]:
            steps = record.pop("env_steps")
            model.evaluations.add(steps, EvaluationResult(**record))
        return model

    def close(self) -> None:
        """Close the evaluation envs and the log files."""
        if self._eval_envs is not None and self._eval_envs is not self.eval_env:
            self._eval_envs.close()
        self.logger.close()


def _unwrap_env(env: Any) -> tuple[GoalEnv, str | None, dict[str, Any], int | None]:
    """(core, task name, task options, vector num_envs or None) of an env id or gcrl_depth env."""
    if isinstance(env, str):
        task = task_name(env)
        return shared_core(task, {}), task, {}, None
    unwrapped = getattr(env, "unwrapped", None)
    if isinstance(unwrapped, GcrlVectorEnv):
        return unwrapped.core, unwrapped.task, unwrapped.task_kwargs, unwrapped.num_envs
    if isinstance(unwrapped, GcrlGoalEnv):
        return unwrapped.core, unwrapped.task, unwrapped.task_kwargs, None
    raise TypeError(
        "DeepCRL needs a gcrl_depth env id (e.g. 'gcrl_depth/PointUMaze-v0') or a gcrl_depth Gymnasium env "
        f"(gym.make / gym.make_vec of such an id); got {type(env).__name__}"
    )


def _default_eval_id(task: str | None) -> str | None:
    if task is None:
        return None
    return eval_env_id(task)


def _log_formats(verbose: int, log_dir: str | None) -> tuple[str, ...]:
    return (("stdout",) if verbose else ()) + (("csv", "tensorboard") if log_dir is not None else ())


def _bar_postfix(metrics: dict[str, float], evaluation: EvaluationResult | None) -> dict[str, str]:
    postfix = {"steps/s": f"{metrics['time/env_steps_per_s']:,.0f}"}
    if evaluation is not None:
        postfix["time_at_goal"] = f"{evaluation.time_at_goal:.1f}"
    return postfix


class _TqdmStream:
    """A text stream that writes around an active tqdm bar."""

    def write(self, text: str) -> None:
        tqdm.write(text.rstrip("\n"))

    def flush(self) -> None:
        pass
