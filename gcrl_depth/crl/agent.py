"""DeepCRL: deep contrastive RL behind stable-baselines3's API (learn, predict, save, load).

>>> model = DeepCRL("gcrl_depth/PointUMaze-v0", depth=16, num_envs=32)  # doctest: +SKIP
>>> model.learn(200_000, progress_bar=True)                             # doctest: +SKIP
>>> action, _ = model.predict(obs, deterministic=True)                  # doctest: +SKIP

The agent is the host loop and the SB3-style surface; the work is elsewhere:

* where the steps come from: :mod:`gcrl_depth.crl.env_paths` (gcrl_depth's envs on the
  device, any other goal env on the host; one interface);
* the training itself: the pure engine (:mod:`gcrl_depth.crl.engine`) run through compiled
  programs (:mod:`gcrl_depth.programs`) by a collector;
* one epoch with rollback on failure or divergence and Ctrl-C safety: :mod:`gcrl_depth.crl.epochs`;
* save and load: :mod:`gcrl_depth.crl.persistence`.

Training runs in *epochs* of several training iterations (collect ``num_envs x
unroll_length`` steps, then the gradient steps), after which the host evaluates, logs,
updates the progress bar and calls the callbacks.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import jax
import numpy as np
from tqdm.auto import tqdm

from gcrl_depth import programs
from gcrl_depth.callbacks import as_callback
from gcrl_depth.checks import positive_int
from gcrl_depth.crl import checkpoint
from gcrl_depth.crl.config import CRLConfig
from gcrl_depth.crl.engine import TrainState, make_train
from gcrl_depth.crl.env_paths import HostPath, open_env_path
from gcrl_depth.crl.epochs import train_epoch
from gcrl_depth.crl.learner import Learner
from gcrl_depth.crl.persistence import load_agent, save_agent
from gcrl_depth.evaluation import EvaluationHistory, EvaluationResult
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
        eval_episodes = positive_int(eval_episodes, "eval_episodes", minimum=0)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer in [0, 2**63 - 2], got {seed!r}")
        epoch_timesteps = positive_int(epoch_timesteps, "epoch_timesteps")
        data_parallel = positive_int(data_parallel, "data_parallel", what="devices to split one run over")

        def configure(env_num_envs: int | None) -> CRLConfig:
            if env_num_envs is not None:
                if "num_envs" in config and config["num_envs"] != env_num_envs:
                    raise ValueError(f"num_envs={config['num_envs']} conflicts with the vector env's num_envs={env_num_envs}")
                config["num_envs"] = env_num_envs
            return CRLConfig.from_dict({"depth": depth, **config})

        self.path, self.config = open_env_path(env, configure, eval_env, eval_episodes, data_parallel)
        self.sizes = self.path.sizes
        self.seed, self.eval_episodes, self.epoch_timesteps = int(seed), eval_episodes, epoch_timesteps
        self.verbose, self.log_dir = verbose, log_dir
        self.engine = make_train(self.config, self.sizes, self.path.core, data_parallel)
        self.collector = self.path.collector(self.engine)
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
        return self.path.env_id

    @property
    def core(self) -> Any:
        """The env's pure-JAX core (gcrl_depth's envs), else None."""
        return self.path.core

    @property
    def task_kwargs(self) -> dict[str, Any]:
        """The env options training uses (and a checkpoint records)."""
        return self.path.task_kwargs

    @property
    def eval_env(self) -> Any:
        """The evaluation env: an id or vector env (None: the default, built when first needed)."""
        return self.path.eval_env

    @property
    def host(self) -> Any:
        """The :class:`~gcrl_depth.crl.host_env.HostEnv` of an env stepped on the host; None on the device path."""
        return self.path.host if isinstance(self.path, HostPath) else None

    def get_env(self) -> gym.vector.VectorEnv:
        """The training env as a Gymnasium vector env (``num_envs`` copies of the task), as
        stable-baselines3's ``get_env`` gives. For gcrl_depth's envs training never steps
        it (DeepCRL steps the env's JAX core on the device): it is there to inspect and for
        SB3 callbacks. For other envs it is the vector env training steps: stepping or
        resetting it yourself between ``learn`` calls cuts the episodes being collected."""
        return self.path.get_env(self.config.num_envs)

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
    ) -> DeepCRL:
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
        total_timesteps = positive_int(total_timesteps, "total_timesteps")
        log_interval = positive_int(log_interval, "log_interval")
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
        jax.block_until_ready(self._state.buffer)
        self.logger.record("time/prefill_s", time.perf_counter() - start)
        bar.update(prefill)

    def _run_epoch(self, iterations: int, epoch: int) -> dict[str, float]:
        env_steps = iterations * self.config.env_steps_per_iteration
        updates = iterations * self.config.updates_per_iteration

        def commit(state: TrainState, epochs: int) -> None:  # runs where a Ctrl-C cannot split it
            self._state = state
            self.num_timesteps += epochs * env_steps
            self.num_updates += epochs * updates

        def diverged(what: str) -> str:
            return (f"training diverged in epoch {epoch} (env steps {self.num_timesteps:,} to "
                    f"{self.num_timesteps + env_steps:,}): {what}. The agent keeps the last finite parameters, from "
                    f"{self.num_timesteps:,} env steps; try a lower learning_rate (now {self.config.learning_rate:g})")

        report = train_epoch(self.collector, self._state, iterations, commit, diverged)
        return self._record_epoch(report.metrics, env_steps, updates, report.elapsed, report.compile_s)

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

        On gcrl_depth's envs it is one compiled rollout on the device; with the same ``seed`` it
        matches ``gcrl_depth.evaluate(model, eval_envs, seed=seed)``, the host evaluator, on a
        vector env of the same task. On other envs it is that host evaluator.
        """
        if env is None:
            return self.path.evaluate(self, self.eval_episodes, seed)
        if not isinstance(env, gym.vector.VectorEnv):
            raise TypeError(f"evaluate(env=...) takes a vector env (gym.make_vec), got {type(env).__name__}")
        return self.path.evaluate_on(self, env, seed)

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
        return save_agent(self, path, include_buffer)

    @classmethod
    def load(cls, path: str | os.PathLike, env: str | gym.Env | gym.vector.VectorEnv | None = None, **kwargs: Any) -> DeepCRL:
        """Rebuild an agent from :meth:`save`'s zip, or from the newest checkpoint of a folder that
        :class:`~gcrl_depth.crl.state_checkpoint.StateCheckpoint` (``gcrl-depth train --save-every``) wrote;
        ``env`` defaults to the saved env id and options. Its logger drops what the run logged
        after that checkpoint, so a resumed run's ``progress.csv`` holds no step twice.

        ``kwargs`` override agent settings (``verbose``, ``log_dir``, ``eval_episodes``, ...)
        and training settings (``learning_rate``, ``batch_size``, ...), but not the
        architecture (``depth``, ``width``, ...), which the saved parameters fix. A
        checkpoint saved with its buffer resumes exactly; its buffer also fixes
        ``num_envs`` and ``buffer_size``. An ``env`` of another physics than the saved model's
        (``"mjx"``, ``"spring"``; a checkpoint that records none counts as ``"mjx"``) loads with a
        UserWarning: the policy runs, but its numbers are not comparable.
        """
        return load_agent(cls, path, env, **kwargs)

    def close(self) -> None:
        """Close the log files and the envs this agent built (never an env it was given)."""
        self.logger.close()
        self.path.close()


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
