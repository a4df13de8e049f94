"""One training run's public record: its seed, training state, counts, evaluations and logger.

The host loop (:mod:`gcrl_depth.crl.training.loop`) advances a list of runs, one for
:class:`~gcrl_depth.crl.training.agent.DeepCRL` and k for a :class:`~gcrl_depth.crl.training.run_set.RunSet`;
checkpoints read and restore them. Nothing else of a run is kept anywhere.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gcrl_depth.crl.engine.config import CRLConfig
from gcrl_depth.crl.engine.train import AgentState, TrainState
from gcrl_depth.evaluation import EvaluationHistory, EvaluationResult
from gcrl_depth.logger import Logger


@dataclasses.dataclass(eq=False)
class Run:
    """One run: ``state`` (learner, key and, once collecting, buffer and envs) and its progress."""

    seed: int
    state: AgentState | TrainState
    logger: Logger
    num_timesteps: int = 0  # env steps collected (prefill included)
    num_updates: int = 0  # gradient steps taken
    eval_seconds: float = 0.0  # host seconds spent evaluating
    evaluations: EvaluationHistory = dataclasses.field(default_factory=EvaluationHistory)

    @property
    def has_buffer(self) -> bool:
        """Whether the run holds a replay buffer and envs (a TrainState), not only its learner (an AgentState)."""
        return isinstance(self.state, TrainState)

    def prefill_due(self, config: CRLConfig) -> int:
        """Env steps the next training call spends filling the replay buffer first (0 once it has one)."""
        return 0 if self.has_buffer else config.prefill_env_steps

    def check_budget(self, config: CRLConfig, total_timesteps: int) -> None:
        """Refuse a budget that the prefill would use up before a single gradient step."""
        prefill = self.prefill_due(config)
        minimum = prefill + config.env_steps_per_iteration
        if prefill and total_timesteps < minimum:
            raise ValueError(
                f"learn({total_timesteps:,}) would train nothing: the replay buffer is first filled with "
                f"{prefill:,} env steps (prefill_steps={config.prefill_steps:,} x num_envs={config.num_envs:,}) and one "
                f"training iteration collects {config.env_steps_per_iteration:,} more (num_envs x unroll_length="
                f"{config.unroll_length}); ask for at least {minimum:,} env steps, or lower prefill_steps / num_envs "
                "(PRESETS['cpu'] in gcrl_depth.crl.engine.config is sized for small machines)")

    def planned_timesteps(self, config: CRLConfig, target: int) -> int:
        """The step count a run to ``target`` ends at: prefill (if due) plus whole iterations."""
        steps = self.num_timesteps + self.prefill_due(config)
        per_iteration = config.env_steps_per_iteration
        return steps + max(0, math.ceil((target - steps) / per_iteration)) * per_iteration

    def next_evaluation_seed(self) -> int:
        """The seed of this run's next evaluation during training (its goals differ every time)."""
        return int(np.random.default_rng([self.seed, len(self.evaluations.results)]).integers(2**31))

    def record_epoch(self, metrics: dict[str, float], env_steps: int, updates: int, elapsed: float,
                     compile_s: float) -> dict[str, float]:
        """Log an epoch's metrics with its rates and times; returns them."""
        elapsed = max(elapsed, 1e-9)
        metrics = {**metrics, "time/env_steps_per_s": env_steps / elapsed, "time/grad_steps_per_s": updates / elapsed,
                   "time/epoch_s": elapsed, "time/num_updates": self.num_updates}
        if compile_s:
            metrics["time/compile_s"] = compile_s
        for key, value in metrics.items():
            self.logger.record(key, value)
        return metrics

    def record_evaluation(self, result: EvaluationResult, elapsed: float) -> None:
        """Add an evaluation at the current step count to the history and the log."""
        self.evaluations.add(self.num_timesteps, result)
        for key, value in result.as_metrics("eval/").items():
            self.logger.record(key, value)
        self.logger.record("eval/headline_time_at_goal", self.evaluations.headline())
        self.eval_seconds += elapsed
        self.logger.record("time/eval_s", elapsed)
