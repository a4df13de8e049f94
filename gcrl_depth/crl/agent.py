"""DeepCRL: deep contrastive RL behind stable-baselines3's API (learn, predict, save, load).

>>> model = DeepCRL("gcrl_depth/PointUMaze-v0", depth=16, num_envs=32)  # doctest: +SKIP
>>> model.learn(200_000, progress_bar=True)                             # doctest: +SKIP
>>> action, _ = model.predict(obs, deterministic=True)                  # doctest: +SKIP

Training runs in *epochs* of several training iterations (collect ``num_envs x
unroll_length`` steps, then the gradient steps), after which the host evaluates, logs,
updates the progress bar and calls the callbacks. gcrl_depth's own envs run an epoch as
one compiled program on the device; any other Gymnasium goal env is stepped on the host
and feeds the same buffer and update program (:mod:`gcrl_depth.crl.collectors`). The
networks, losses and buffer are pure functions of the engine (:mod:`gcrl_depth.crl.engine`);
compiled programs come from :mod:`gcrl_depth.crl.programs`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from gcrl_depth.callbacks import as_callback
from gcrl_depth.crl import checkpoint, programs
from gcrl_depth.crl.collectors import DeviceCollector, HostCollector
from gcrl_depth.crl.devices import data_mesh
from gcrl_depth.crl.config import ARCHITECTURE_FIELDS, CRLConfig
from gcrl_depth.crl.divergence import TrainingDivergedError, all_finite, first_non_finite_leaf, first_non_finite_metric
from gcrl_depth.crl.env_source import eval_core, is_device_env, resolve_eval_env, unwrap_env
from gcrl_depth.crl.env_stepper import goal_env_sizes
from gcrl_depth.crl.host_env import check_eval_env, close_built, evaluation_length, host_env, rebuild
from gcrl_depth.crl.engine import EnvSizes, TrainState, make_train
from gcrl_depth.crl.learner import Learner
from gcrl_depth.envs import env_id
from gcrl_depth.envs.gym_api import GcrlVectorEnv
from gcrl_depth.evaluation import EvaluationHistory, EvaluationResult, device_evaluator, evaluate
from gcrl_depth.goal_envs import vector_goal_env
from gcrl_depth.interrupts import deferred_interrupts
from gcrl_depth.logger import Logger

DEFAULT_EPOCH_TIMESTEPS = 1_000_000  # env steps between evaluations (the paper's ~1M)
DEFAULT_EVAL_EPISODES = 128  # the paper's evaluation envs
MAX_SEED = 2**63 - 2  # seed and seed + 1 must fit jax.random.key
LEARNER_FIELDS = tuple(f.name for f in dataclasses.fields(Learner))  # get_parameters' keys: params, opt_state


class DeepCRL:
    """Contrastive RL with deep residual actor and critic, trained on any Gymnasium goal env.

    The defaults are the paper's and sized for a GPU: 512 envs, a prefill of
    512,000 env steps before the first gradient step, then 31,744 env steps per training
    iteration. On a small machine start from ``PRESETS["cpu"]``
    (``DeepCRL(env, **PRESETS["cpu"])``, :mod:`gcrl_depth.crl.config`).

    Args:
        env: an env id or a Gymnasium env, single (``gym.make``) or vector (``gym.make_vec``,
            sync or async: its ``num_envs`` is used). gcrl_depth's own envs
            (``"gcrl_depth/AntBigMaze-v0"``) train on the device; any other env whose
            observation is a Dict with ``observation``, ``achieved_goal`` and
            ``desired_goal`` (``"PointMaze_UMaze-v3"``, a user's own) is stepped on the host,
            ``num_envs`` copies of it.
        depth: Dense layers per residual tower of actor and critic (multiple of 4).
        seed: seed of parameters, training envs, replay sampling and evaluation goals.
        eval_env: where to evaluate: an env id or vector env; default the task's
            ``...Eval`` twin for gcrl_depth's mazes (farthest goals), else fresh copies of
            the training env.
        eval_episodes: episodes per evaluation (0 turns evaluation off).
        epoch_timesteps: env steps per epoch (evaluation, logging and callbacks happen
            between epochs); rounded to whole training iterations.
        verbose: 0 silent, 1 prints a log table after every ``log_interval`` epochs.
        log_dir: folder for ``progress.csv`` and TensorBoard events; None writes neither.
        data_parallel: devices to split this one run over (envs, replay slots and minibatch;
            the update is unchanged, psi(g) all-gathered); 1 = one device.
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
        data_parallel: int = 1,
        **config: Any,
    ) -> None:
        self.host = None if is_device_env(env) else host_env(env)  # None: the device path
        if self.host is None:
            self.core, self.task, self.task_kwargs, env_num_envs = unwrap_env(env)
        else:
            self.core, self.task, self.task_kwargs, env_num_envs = None, None, self.host.env_kwargs, self.host.num_envs
        self._env = env if isinstance(env, gym.vector.VectorEnv) else None
        self._closers: list[Callable[[], None]] = []  # close the envs this agent built (close())
        if env_num_envs is not None:
            if "num_envs" in config and config["num_envs"] != env_num_envs:
                raise ValueError(f"num_envs={config['num_envs']} conflicts with the vector env's num_envs={env_num_envs}")
            config["num_envs"] = env_num_envs
        self.config = CRLConfig.from_dict({"depth": depth, **config})
        if isinstance(eval_episodes, bool) or not isinstance(eval_episodes, int) or eval_episodes < 0:
            raise ValueError(f"eval_episodes must be a non-negative integer, got {eval_episodes!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer in [0, 2**63 - 2], got {seed!r}")
        if isinstance(epoch_timesteps, bool) or not isinstance(epoch_timesteps, int) or epoch_timesteps < 1:
            raise ValueError(f"epoch_timesteps must be a positive integer, got {epoch_timesteps!r}")
        if isinstance(data_parallel, bool) or not isinstance(data_parallel, int) or data_parallel < 1:
            raise ValueError(f"data_parallel must be a positive integer (devices to split one run over), got {data_parallel!r}")
        if data_parallel > 1 and self.host is not None:
            raise ValueError("data_parallel needs a gcrl_depth env (the device path); other envs step on the host")
        self.seed, self.eval_episodes, self.epoch_timesteps = int(seed), eval_episodes, epoch_timesteps
        self.verbose, self.log_dir = verbose, log_dir
        if self.host is None:
            self.sizes = EnvSizes.of(self.core)
            self.eval_env = resolve_eval_env(eval_env, self.task, self.task_kwargs, self.core) if eval_episodes > 0 else eval_env
            self.engine = make_train(self.config, self.sizes, self.core, data_parallel)
            self.collector = DeviceCollector(self.engine, data_mesh(data_parallel) if data_parallel > 1 else None)
        else:
            self._env = self.host.training_envs(self.config.num_envs)
            self._closers.append(functools.partial(close_built, self._env, self.host))
            try:
                self.sizes = goal_env_sizes(self._env)
                self.eval_env = check_eval_env(eval_env, self.sizes, self._env) if eval_episodes > 0 else eval_env
                self._eval_envs = self._host_eval_envs() if eval_episodes > 0 else None
            except BaseException:
                self._close_envs()
                raise
            self.engine = make_train(self.config, self.sizes)
            self.collector = HostCollector(self.engine, self._env)
        self._state: TrainState = programs.run(self.engine.init, jax.random.key(self.seed))  # no buffer until learn()
        self._predict_key = jax.random.key(self.seed + 1)
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
        if self.host is not None:
            return self.host.env_id
        return None if self.task is None else env_id(self.task)

    def get_env(self) -> gym.vector.VectorEnv:
        """The training env as a Gymnasium vector env (``num_envs`` copies of the task), as
        stable-baselines3's ``get_env`` gives. For gcrl_depth's envs training never steps
        it (DeepCRL steps the env's JAX core on the device): it is there to inspect and for
        SB3 callbacks. For other envs it is the vector env training steps: stepping or
        resetting it yourself between ``learn`` calls cuts the episodes being collected."""
        if self._env is None:
            self._env = GcrlVectorEnv(self.task or self.core, num_envs=self.config.num_envs, **self.task_kwargs)
        return self._env

    def get_vec_normalize_env(self) -> None:
        """stable-baselines3 compatibility: DeepCRL never normalises observations."""
        return None

    def get_parameters(self) -> dict[str, Any]:
        """Host (numpy) copies of the learner, stable-baselines3's ``get_parameters``:
        ``{"params": Params (actor, critic, log_alpha), "opt_state": the Adam state}``."""
        learner = jax.device_get(self.learner)
        return {name: getattr(learner, name) for name in LEARNER_FIELDS}

    def set_parameters(self, load_path_or_dict: str | os.PathLike | Mapping[str, Any], exact_match: bool = True) -> None:
        """Replace parameters from :meth:`get_parameters`'s dict or a checkpoint zip.

        With ``exact_match`` both ``params`` and ``opt_state`` must be given; otherwise either
        one. Shapes must match this agent's architecture; values are cast to its dtypes.
        """
        current = self.learner
        if isinstance(load_path_or_dict, (str, os.PathLike)):
            stored = checkpoint.read_checkpoint(load_path_or_dict).learner(jax.device_get(current))
            values = {name: getattr(stored, name) for name in LEARNER_FIELDS}
        elif isinstance(load_path_or_dict, Mapping):
            values = dict(load_path_or_dict)
        else:
            raise TypeError(f"set_parameters expects a checkpoint path or a dict like get_parameters(), "
                            f"got {type(load_path_or_dict).__name__}")
        unknown = sorted(set(values) - set(LEARNER_FIELDS))
        missing = sorted(set(LEARNER_FIELDS) - set(values))
        if unknown or (exact_match and missing):
            raise ValueError(f"set_parameters expects the keys {list(LEARNER_FIELDS)}"
                             + (f"; unknown {unknown}" if unknown else "") + (f"; missing {missing}" if exact_match and missing else "")
                             + ("" if unknown else " (pass exact_match=False to set a subset)"))
        for name, value in values.items():
            checkpoint.check_same_shapes(getattr(current, name), value,
                                         f"set_parameters: {name} does not match the agent's architecture")
        updates = {name: jax.device_put(jax.tree_util.tree_map(lambda x, like: np.asarray(x, like.dtype), value,
                                                               getattr(current, name)))
                   for name, value in values.items()}
        self._state = self._state.replace(learner=current.replace(**updates))

    def set_logger(self, logger: Logger) -> None:
        """Log to ``logger`` from now on (stable-baselines3's API), closing the one before it."""
        if logger is not self.logger:
            self.logger.close()
        self.logger = logger

    @property
    def learner(self) -> Learner:
        """Current parameters, temperature and Adam state (device arrays)."""
        return self._state.learner

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
            total_timesteps: env steps to collect in this call (prefill included); at least
                the prefill plus one iteration when the replay buffer is still to be filled
                (a new agent, or one loaded without its buffer).
            callback: a :class:`~gcrl_depth.callbacks.BaseCallback`, a list of them, or
                ``fn(locals_, globals_) -> bool``; called after every epoch, False stops.
            log_interval: dump the log every this many epochs.
            progress_bar: show a tqdm bar with env steps, steps/s and time at goal.
            reset_num_timesteps: start counting at 0 (True) or continue the count (False).

        Raises:
            TrainingDivergedError: a loss or parameter became non-finite; the agent keeps the
                parameters from before that epoch (``predict`` and ``save`` give them).

        A ``KeyboardInterrupt`` or a callback's exception ends training after the last
        completed epoch: the agent stays usable and ``num_timesteps`` counts what was trained.
        """
        if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, (int, np.integer)) or total_timesteps < 1:
            raise ValueError(f"total_timesteps must be a positive integer, got {total_timesteps!r}")
        if isinstance(log_interval, bool) or not isinstance(log_interval, int) or log_interval < 1:
            raise ValueError(f"log_interval must be a positive integer, got {log_interval!r}")
        self._check_budget(int(total_timesteps))
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
            if not self._state.started:
                self._start_collection(bar)
            epoch = 0
            while self.num_timesteps < target:
                epoch += 1
                remaining = math.ceil((target - self.num_timesteps) / self.config.env_steps_per_iteration)
                metrics = self._run_epoch(min(self.iterations_per_epoch, remaining), epoch)
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

    def _check_budget(self, total_timesteps: int) -> None:
        """Refuse a budget that the prefill would use up before a single gradient step."""
        cfg = self.config
        prefill = self._prefill_due
        minimum = prefill + cfg.env_steps_per_iteration
        if prefill and total_timesteps < minimum:
            raise ValueError(
                f"learn({total_timesteps:,}) would train nothing: the replay buffer is first filled with "
                f"{prefill:,} env steps (prefill_steps={cfg.prefill_steps:,} x num_envs={cfg.num_envs:,}) and one "
                f"training iteration collects {cfg.env_steps_per_iteration:,} more (num_envs x unroll_length="
                f"{cfg.unroll_length}); ask for at least {minimum:,} env steps, or lower prefill_steps / num_envs "
                "(PRESETS['cpu'] in gcrl_depth.crl.config is sized for small machines)")

    @property
    def _prefill_due(self) -> int:
        """Env steps the next learn() spends refilling the buffer first (0 while one is running)."""
        return 0 if self._state.started else self.config.prefill_env_steps

    def _planned_timesteps(self, target: int) -> int:
        """The step count a run to ``target`` ends at: prefill (if due) plus whole iterations."""
        steps = self.num_timesteps + self._prefill_due
        per_iteration = self.config.env_steps_per_iteration
        return steps + max(0, math.ceil((target - steps) / per_iteration)) * per_iteration

    def _start_collection(self, bar: tqdm) -> None:
        """Fresh training envs and replay buffer around the current parameters; then the prefill."""
        state = self.collector.start(self._state)
        start = time.perf_counter()
        prefill = self.config.prefill_env_steps
        with deferred_interrupts():  # the state and the step count change together
            self._state = self.collector.prefill(state)
            self.num_timesteps += prefill
        jax.block_until_ready(self._state.buffer.size)
        self.logger.record("time/prefill_s", time.perf_counter() - start)
        bar.update(prefill)

    def _run_epoch(self, iterations: int, epoch: int) -> dict[str, float]:
        compile_s = self.collector.compile(self._state, iterations)
        last_good = self._unstarted_copy()  # the program donates the state
        env_steps = iterations * self.config.env_steps_per_iteration
        updates = iterations * self.config.updates_per_iteration
        start = time.perf_counter()
        with deferred_interrupts():  # the state and the step counts change together
            try:
                self._state, metrics = self.collector.train(self._state, iterations)
            except BaseException:  # e.g. the env's step raised: the donated state may be gone
                self._state = last_good  # the next learn refills the buffer
                raise
            self.num_timesteps += env_steps
            self.num_updates += updates
        elapsed = time.perf_counter() - start
        self._check_finite(metrics, last_good, epoch, env_steps, updates)
        return self._record_epoch(metrics, env_steps, updates, elapsed, compile_s)

    def _record_epoch(self, metrics: dict[str, float], env_steps: int, updates: int, elapsed: float,
                      compile_s: float) -> dict[str, float]:
        """Log an epoch's metrics with its rates and times; returns them."""
        metrics = {**metrics, "time/env_steps_per_s": env_steps / elapsed, "time/grad_steps_per_s": updates / elapsed,
                   "time/epoch_s": elapsed, "time/num_updates": self.num_updates}
        if compile_s:
            metrics["time/compile_s"] = compile_s
        for key, value in metrics.items():
            self.logger.record(key, value)
        return metrics

    def _unstarted_copy(self) -> TrainState:
        """A copy of the learner, key and counters without buffer or envs: what a failed epoch falls back to."""
        state = self._state
        kept = TrainState(learner=state.learner, key=state.key, iterations=state.iterations)
        return jax.tree_util.tree_map(jnp.copy, kept)

    def _check_finite(self, metrics: dict[str, float], last_good: TrainState, epoch: int, env_steps: int,
                      updates: int) -> None:
        """After a non-finite epoch: restore ``last_good`` and its step counts, then raise."""
        bad_metric = first_non_finite_metric(metrics)
        if bad_metric is None and bool(all_finite(self.learner)):
            return
        what = f"{bad_metric[0]} = {bad_metric[1]}" if bad_metric else f"parameter {first_non_finite_leaf(self.learner)} is not finite"
        with deferred_interrupts():
            self._state = last_good  # the envs and buffer may hold NaN: the next learn refills
            self.num_timesteps -= env_steps
            self.num_updates -= updates
        raise TrainingDivergedError(
            f"training diverged in epoch {epoch} (env steps {self.num_timesteps:,} to {self.num_timesteps + env_steps:,}): "
            f"{what}. The agent keeps the last finite parameters, from {self.num_timesteps:,} env steps; "
            f"try a lower learning_rate (now {self.config.learning_rate:g})")

    def _evaluate_now(self) -> EvaluationResult | None:
        if self.eval_episodes == 0:
            return None
        start = time.perf_counter()
        result = self.evaluate(seed=self._next_evaluation_seed())
        self._record_evaluation(result, time.perf_counter() - start)
        return result

    def _next_evaluation_seed(self) -> int:
        """The seed of this agent's next evaluation during training (its goals differ every time)."""
        return int(np.random.default_rng([self.seed, len(self.evaluations.results)]).integers(2**31))

    def _record_evaluation(self, result: EvaluationResult, elapsed: float) -> None:
        self.evaluations.add(self.num_timesteps, result)
        for key, value in result.as_metrics("eval/").items():
            self.logger.record(key, value)
        self.logger.record("eval/headline_time_at_goal", self.evaluations.headline())
        self.eval_seconds += elapsed
        self.logger.record("time/eval_s", elapsed)

    def evaluate(self, seed: int = 0, env: gym.vector.VectorEnv | None = None) -> EvaluationResult:
        """One evaluation of the deterministic policy on the evaluation env (``eval_episodes``
        episodes, or the vector ``eval_env``'s ``num_envs``), or on ``env``, another vector
        env of the same sizes (one episode per copy: e.g. other goals of the task).

        On gcrl_depth's envs it is one jitted rollout on the device; with the same ``seed`` it
        matches ``gcrl_depth.evaluate(model, eval_envs, seed=seed)``, the host evaluator, on a
        vector env of the same task. On other envs it is that host evaluator.
        """
        if env is not None:
            return self._evaluate_on(env, seed)
        if self.host is not None:
            if self._eval_envs is None:
                self.eval_env = check_eval_env(self.eval_env, self.sizes, self._env)
                self._eval_envs = self._host_eval_envs()
            return evaluate(self, self._eval_envs, seed=seed, max_steps=evaluation_length(self._eval_envs))
        core, episodes = self._device_evaluation()
        return device_evaluator(core, self.engine.act, episodes)(self.learner.params.actor, seed)

    def _device_evaluation(self) -> tuple[Any, int]:
        """Device path: the evaluation env's core and the episodes per evaluation."""
        if self.eval_env is None:
            self.eval_env = resolve_eval_env(None, self.task, self.task_kwargs, self.core)
        episodes = max(1, self.eval_episodes) if isinstance(self.eval_env, str) else self.eval_env.unwrapped.num_envs
        return eval_core(self.eval_env, self.task_kwargs), episodes

    def _evaluate_on(self, env: gym.vector.VectorEnv, seed: int) -> EvaluationResult:
        if not isinstance(env, gym.vector.VectorEnv):
            raise TypeError(f"evaluate(env=...) takes a vector env (gym.make_vec), got {type(env).__name__}")
        if self.host is None and isinstance(env.unwrapped, GcrlVectorEnv):
            sizes = EnvSizes.of(env.unwrapped.core)
            if sizes != self.sizes:
                raise ValueError(f"evaluate(env=...): env sizes {sizes.as_dict()} differ from the model's {self.sizes.as_dict()}")
            evaluator = device_evaluator(env.unwrapped.core, self.engine.act, env.unwrapped.num_envs)
            return evaluator(self.learner.params.actor, seed)
        check_eval_env(env, self.sizes, self._env)
        return evaluate(self, env, seed=seed, max_steps=evaluation_length(env))

    def _host_eval_envs(self) -> gym.vector.VectorEnv:
        """The host path's evaluation vector env: ``eval_env`` as given or built, else copies of the training env."""
        if isinstance(self.eval_env, gym.vector.VectorEnv):
            envs = self.eval_env
        else:
            episodes = max(1, self.eval_episodes)
            envs = vector_goal_env(self.eval_env, episodes) if self.eval_env else self.host.eval_envs(episodes)
            self._closers.append(envs.close)
            check_eval_env(envs, self.sizes, self._env)
        evaluation_length(envs)
        return envs

    def _close_envs(self) -> None:
        while self._closers:
            self._closers.pop()()

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
        obs, goal = _float_array(observation, "observation"), _float_array(observation, "desired_goal")
        single = obs.ndim == 1
        expected = {"observation": (obs, self.sizes.observation_size), "desired_goal": (goal, self.sizes.goal_size)}
        for name, (array, size) in expected.items():
            if array.ndim not in (1, 2) or array.shape[-1] != size or array.ndim != obs.ndim:
                raise ValueError(f"{name} must have shape ({size},) or (batch, {size}); got {array.shape}")
        if not single and goal.shape[0] != obs.shape[0]:
            raise ValueError(f"observation and desired_goal batch sizes differ: {obs.shape[0]} vs {goal.shape[0]}")
        for name, array in (("observation", obs), ("desired_goal", goal)):
            if not np.isfinite(array).all():
                raise ValueError(f"{name} contains NaN or infinite values; expected finite numbers")
        obs, goal = np.atleast_2d(obs), np.atleast_2d(goal)
        key = None
        if not deterministic:
            self._predict_key, key = jax.random.split(self._predict_key)
        action = np.asarray(programs.run(self.engine.act, self.learner.params.actor, obs, goal, key))
        return (action[0] if single else action), None

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike, include_buffer: bool = False) -> str:
        """Write a checkpoint zip atomically (``.zip`` is appended if missing); returns its path.

        It holds the config, parameters, optimizer states, PRNG key, step counts, env id
        and versions: enough to act and to continue training, which then first refills the
        replay buffer (the prefill). With ``include_buffer=True`` it also holds the replay
        buffer, the training envs' state and the PRNG keys, so that loading and training on
        gives exactly the run that was not interrupted (bitwise on the same machine). The
        buffer is large: ``buffer_size x num_envs`` steps (0.8 GB for the ant at the paper's sizes).
        On a Gymnasium env stepped on the host (not a gcrl_depth env) the env's own state
        cannot be saved: a resumed run keeps the buffer and keys but starts new episodes.
        """
        if not isinstance(include_buffer, bool):
            raise TypeError(f"include_buffer must be True or False, got {include_buffer!r}")
        if include_buffer and not self._state.started:
            raise ValueError("include_buffer=True needs a replay buffer, which learn() fills; this agent has none yet")
        meta = {
            "algorithm": "DeepCRL",
            "env_id": self.env_id,
            "task_kwargs": self.task_kwargs,
            **(self.host.record() if self.host is not None else {}),
            "sizes": self.sizes.as_dict(),
            "seed": self.seed,
            "num_timesteps": self.num_timesteps,
            "num_updates": self.num_updates,
            "iterations": int(self._state.iterations),
            "agent": {"eval_episodes": self.eval_episodes, "epoch_timesteps": self.epoch_timesteps,
                      "eval_env": self.eval_env if isinstance(self.eval_env, str) else None},
            "evaluations": [{"env_steps": s, **dataclasses.asdict(r)} for s, r in zip(self.evaluations.env_steps, self.evaluations.results)],
        }
        learner = jax.device_get(self.learner)
        training = None
        if include_buffer:
            training = {"buffer": self._state.buffer, "env": self._state.env, "episode": self._state.episode}
        return checkpoint.write_checkpoint(path, self.config.to_dict(), meta, learner.params, learner.opt_state,
                                           self._state.key, training)

    @classmethod
    def load(cls, path: str | os.PathLike, env: str | gym.Env | gym.vector.VectorEnv | None = None, **kwargs: Any) -> "DeepCRL":
        """Rebuild an agent from :meth:`save`'s zip; ``env`` defaults to the saved env id and options.

        ``kwargs`` override agent settings (``verbose``, ``log_dir``, ``eval_episodes``, ...)
        and training settings (``learning_rate``, ``batch_size``, ...), but not the
        architecture (``depth``, ``width``, ...), which the saved parameters fix. A
        checkpoint saved with its buffer resumes exactly; its buffer also fixes
        ``num_envs`` and ``buffer_size``.
        """
        stored = checkpoint.read_checkpoint(path)
        config, meta, has_buffer = stored.config, stored.meta, stored.has_training_state
        fixed = sorted(set(kwargs) & set(ARCHITECTURE_FIELDS))
        if fixed:
            raise ValueError(f"load cannot change {fixed}: the saved parameters fix the architecture "
                             f"({', '.join(f'{k}={config.get(k)!r}' for k in fixed)}); build a new DeepCRL to train another")
        config_overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in config}
        if has_buffer:
            changed = sorted(k for k in ("num_envs", "buffer_size") if k in config_overrides and config_overrides[k] != config[k])
            if changed:
                raise ValueError(f"load cannot change {changed}: the checkpoint holds a replay buffer of that size")
        config = {**config, **config_overrides}
        built = env is None
        if env is None and meta.get("env_path") == "host":
            env = rebuild(meta, config["num_envs"], os.fspath(path))
        elif env is None:
            if meta["env_id"] is None:
                raise ValueError(f"{os.fspath(path)!r} was trained on an env without an id: pass env=")
            env = gym.make_vec(meta["env_id"], num_envs=config["num_envs"], **meta["task_kwargs"])
        settings = {"seed": meta["seed"], **meta["agent"], **kwargs}
        if settings.get("eval_env") is None:
            settings.pop("eval_env", None)
        if isinstance(env, gym.vector.VectorEnv) and config["num_envs"] != env.unwrapped.num_envs:
            if has_buffer:
                raise ValueError(f"the checkpoint's replay buffer holds {config['num_envs']} envs; env= has {env.unwrapped.num_envs}")
            config = {**config, "num_envs": env.unwrapped.num_envs}
        depth = config.pop("depth")
        try:
            model = cls(env, depth, **settings, **config)
        except BaseException:
            if built and isinstance(env, gym.vector.VectorEnv):
                env.close()
            raise
        if built and model.host is not None:
            model._closers.append(env.close)
        if model.sizes.as_dict() != meta["sizes"]:
            model.close()
            raise ValueError(f"env sizes {model.sizes.as_dict()} differ from the checkpoint's {meta['sizes']}")
        try:
            model._restore(stored)
        except BaseException:
            model.close()
            raise
        model.num_timesteps, model.num_updates = meta["num_timesteps"], meta["num_updates"]
        for record in meta["evaluations"]:
            steps = record.pop("env_steps")
            model.evaluations.add(steps, EvaluationResult(**record))
        return model

    def _restore(self, stored: checkpoint.Checkpoint) -> None:
        """The saved learner, key and counters, and (if saved) the buffer and envs, as this agent's state."""
        learner = jax.device_put(stored.learner(jax.device_get(self.learner)))
        state = TrainState(learner=learner, key=stored.key(), iterations=jnp.asarray(stored.meta.get("iterations", 0), jnp.int32))
        if stored.has_training_state:
            one_device = make_train(self.config, self.sizes, self.core)  # the saved state's layout: every env
            template = jax.eval_shape(one_device.start, state)
            like = {"buffer": template.buffer, "env": template.env, "episode": template.episode}
            state = state.replace(**jax.device_put(stored.training(like)))
        self._state = state

    def close(self) -> None:
        """Close the log files and the envs this agent built (never an env it was given)."""
        self.logger.close()
        self._close_envs()


def _float_array(observation: Mapping[str, Any], name: str) -> np.ndarray:
    try:
        return np.asarray(observation[name], dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"predict: {name} must be numbers (a float array); {error}") from error


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
