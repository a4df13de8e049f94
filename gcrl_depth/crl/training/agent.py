"""DeepCRL: deep contrastive RL behind stable-baselines3's API (learn, predict, save, load).

>>> model = DeepCRL("gcrl_depth/PointUMaze-v0", depth=16, num_envs=32)  # doctest: +SKIP
>>> model.learn(200_000, progress_bar=True)                             # doctest: +SKIP
>>> action, _ = model.predict(obs, deterministic=True)                  # doctest: +SKIP

The agent is stable-baselines3's surface over parts that live elsewhere:

* where the steps come from: :mod:`gcrl_depth.crl.env_paths` (gcrl_depth's envs on the
  device, any other goal env on the host; one interface);
* the training itself: the pure engine (:mod:`gcrl_depth.crl.engine.train`), compiled in
  :mod:`gcrl_depth.crl.engine.compiled`, advanced by the host loop (:mod:`gcrl_depth.crl.training.loop`) that
  also trains run sets; the run's counts, evaluations and logger are its public
  :class:`~gcrl_depth.crl.training.run.Run` (``model.run``);
* save and load: :mod:`gcrl_depth.crl.training.persistence`.

Training runs in *epochs* of several training iterations (collect ``num_envs x
unroll_length`` steps, then the gradient steps), after which the host evaluates, logs,
updates the progress bar and calls the callbacks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import jax
import numpy as np

from gcrl_depth.callbacks import as_callback
from gcrl_depth.checks import positive_int
from gcrl_depth.crl.engine import compiled
from gcrl_depth.crl.engine.config import CRLConfig
from gcrl_depth.crl.engine.learner import Learner
from gcrl_depth.crl.engine.train import make_train
from gcrl_depth.crl.env_paths import HostPath, open_env_path
from gcrl_depth.crl.training.loop import Epoch, train
from gcrl_depth.crl.training.persistence import learner_parameters, learner_with, load_agent, save_agent
from gcrl_depth.crl.training.run import Run
from gcrl_depth.crl.training.runners import OneRun
from gcrl_depth.evaluation import EvaluationHistory, EvaluationResult
from gcrl_depth.goal_envs import policy_inputs
from gcrl_depth.logger import Logger

DEFAULT_EPOCH_TIMESTEPS = 1_000_000  # env steps between evaluations (the paper's ~1M)
DEFAULT_EVAL_EPISODES = 128  # the paper's evaluation envs
MAX_SEED = 2**63 - 2  # seed and seed + 1 must fit jax.random.key


class DeepCRL:
    """Contrastive RL with deep residual actor and critic, trained on any Gymnasium goal env.

    The defaults are the paper's and sized for a GPU: 512 envs, a prefill of
    512,000 env steps before the first gradient step, then 31,744 env steps per training
    iteration. On a small machine start from ``PRESETS["cpu"]``
    (``DeepCRL(env, **PRESETS["cpu"])``, :mod:`gcrl_depth.crl.engine.config`).

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
        **config: any :class:`~gcrl_depth.crl.engine.config.CRLConfig` field (``width``,
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
        self.runner = OneRun(self.path.collector(self.engine), self._evaluate_actor)
        self.run = Run(self.seed, compiled.init(jax.random.key(self.seed), self.engine),  # no buffer until learn()
                       Logger(log_dir, _log_formats(verbose, log_dir)))
        self._predict_key = jax.random.key(self.seed + 1)
        self.lineage: dict[str, Any] | None = None  # what the model learnt from (lessons.distill, collect_learn)

    # ----------------------------------------------------------------- the run's progress
    @property
    def num_timesteps(self) -> int:
        """Env steps trained (prefill included)."""
        return self.run.num_timesteps

    @num_timesteps.setter
    def num_timesteps(self, value: int) -> None:
        self.run.num_timesteps = int(value)

    @property
    def num_updates(self) -> int:
        """Gradient steps taken."""
        return self.run.num_updates

    @property
    def eval_seconds(self) -> float:
        """Host seconds spent in evaluations during training."""
        return self.run.eval_seconds

    @property
    def evaluations(self) -> EvaluationHistory:
        """The evaluations made during training, by env steps."""
        return self.run.evaluations

    @property
    def logger(self) -> Logger:
        return self.run.logger

    # ----------------------------------------------------------------- properties
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
        """The :class:`~gcrl_depth.crl.env_paths.host.HostEnv` of an env stepped on the host; None on the device path."""
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
        return learner_parameters(self.learner)

    def set_parameters(self, load_path_or_dict: str | os.PathLike | Mapping[str, Any], exact_match: bool = True) -> None:
        """Replace parameters from :meth:`get_parameters`'s dict or a checkpoint zip.

        With ``exact_match`` both ``params`` and ``opt_state`` must be given; otherwise either
        one. Shapes must match this agent's architecture; values are cast to its dtypes.
        """
        self.run.state = self.run.state.replace(learner=learner_with(self.learner, load_path_or_dict, exact_match))

    def set_logger(self, logger: Logger) -> None:
        """Log to ``logger`` from now on (stable-baselines3's API), closing the one before it."""
        if logger is not self.logger:
            self.logger.close()
        self.run.logger = logger

    @property
    def learner(self) -> Learner:
        """Current parameters, temperature and Adam state (device arrays)."""
        return self.run.state.learner

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
        self.run.check_budget(self.config, total_timesteps)
        callback = as_callback(callback)
        if callback is not None:
            callback.init_callback(self)
            callback.on_training_start(locals(), globals())

        def progress(epoch: Epoch) -> bool:
            if callback is None:
                return True
            callback.update_locals({"metrics": epoch.metrics[0], "evaluation": epoch.evaluations[0], "epoch": epoch.number})
            return callback.on_step()

        try:
            train(self.runner, [self.run], self.config, total_timesteps, epoch_timesteps=self.epoch_timesteps,
                  evaluate=self.eval_episodes > 0, progress=progress, log_interval=log_interval,
                  progress_bar=progress_bar, reset_num_timesteps=reset_num_timesteps)
        finally:
            if callback is not None:
                callback.on_training_end()
        if self.verbose:
            print(f"DeepCRL: {self.num_timesteps:,} env steps trained (requested {int(total_timesteps):,}; "
                  f"iterations collect {self.config.env_steps_per_iteration:,}), {self.num_updates:,} gradient steps")
        return self

    def _evaluate_actor(self, actor: Any, seed: int) -> EvaluationResult:
        return self.path.evaluate(self.engine, actor, self.eval_episodes, seed)

    def evaluate(self, seed: int = 0, env: gym.vector.VectorEnv | None = None) -> EvaluationResult:
        """One evaluation of the deterministic policy on the evaluation env (``eval_episodes``
        episodes, or the vector ``eval_env``'s ``num_envs``), or on ``env``, another vector
        env of the same sizes (one episode per copy: e.g. other goals of the task).

        On gcrl_depth's envs it is one compiled rollout on the device; with the same ``seed`` it
        matches ``gcrl_depth.evaluate(model, eval_envs, seed=seed)``, the host evaluator, on a
        vector env of the same task. On other envs it is that host evaluator.
        """
        actor = self.learner.params.actor
        if env is None:
            return self.path.evaluate(self.engine, actor, self.eval_episodes, seed)
        if not isinstance(env, gym.vector.VectorEnv):
            raise TypeError(f"evaluate(env=...) takes a vector env (gym.make_vec), got {type(env).__name__}")
        return self.path.evaluate_on(self.engine, actor, env, seed)

    # ----------------------------------------------------------------- acting
    def predict(
        self, observation: Mapping[str, Any], state: Any = None, episode_start: Any = None, deterministic: bool = True
    ) -> tuple[np.ndarray, None]:
        """Actions for one Dict observation or a batch of them (numpy in, numpy out).

        Returns ``(action, None)`` as stable-baselines3 does; ``state`` and
        ``episode_start`` exist for that API and are unused (the policy is not recurrent).
        """
        obs, goal, single = policy_inputs(observation, self.sizes.observation_size, self.sizes.goal_size)
        key = None
        if not deterministic:
            self._predict_key, key = jax.random.split(self._predict_key)
        action = np.asarray(compiled.act(self.learner.params.actor, obs, goal, self.engine, key))
        return (action[0] if single else action), None

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike, include_buffer: bool = False, include_optimizer: bool = True) -> str:
        """Write a checkpoint zip atomically (``.zip`` is appended if missing); returns its path.

        It holds the config, parameters, optimizer states, PRNG key, step counts, env id
        and versions: enough to act and to continue training, which then first refills the
        replay buffer (the prefill). With ``include_buffer=True`` it also holds the replay
        buffer, the training envs' state and the PRNG keys, so that loading and training on
        gives exactly the run that was not interrupted (bitwise on the same machine). The
        buffer is large: ``buffer_size x num_envs`` steps (0.8 GB for the ant at the paper's sizes).
        On a Gymnasium env stepped on the host (not a gcrl_depth env) the env's own state
        cannot be saved: a resumed run keeps the buffer and keys but starts new episodes.
        With ``include_optimizer=False`` it holds the parameters without the Adam state (a
        third of the size: for sharing a model); training on from it starts Adam afresh.
        """
        return save_agent(self, path, include_buffer, include_optimizer)

    @classmethod
    def load(cls, path: str | os.PathLike, env: str | gym.Env | gym.vector.VectorEnv | None = None, **kwargs: Any) -> DeepCRL:
        """Rebuild an agent from :meth:`save`'s zip, or from the newest checkpoint of a folder that
        :class:`~gcrl_depth.crl.training.state_checkpoint.StateCheckpoint` (``gcrl-depth train --save-every``) wrote;
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


def _log_formats(verbose: int, log_dir: str | None) -> tuple[str, ...]:
    return (("stdout",) if verbose else ()) + (("csv", "tensorboard") if log_dir is not None else ())
