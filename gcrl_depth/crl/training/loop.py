"""The host loop: one loop trains one run (DeepCRL) or a set of runs (RunSet).

:func:`train` follows the shape of brax's training loops: refill the replay buffers if due
(the prefill), then one ``for`` over epochs, each a compiled program of several training
iterations followed by an evaluation, the logs and one progress call. What is specific to
one run or k stacked runs is the :class:`~gcrl_depth.crl.training.runners.Runner`; what each run
has done is its public :class:`~gcrl_depth.crl.training.run.Run`.

Safety: the compiled programs *donate* (free) the state they are given, so before each
program the loop keeps a copy of what cannot be rebuilt (learners, keys and counters:
:func:`agent_copy`). Each run's state and counts change together, in a section a Ctrl-C
cannot split (:func:`~gcrl_depth.interrupts.deferred_interrupts`):

* an epoch that raised (the env's step failed, a Ctrl-C) leaves every run on that copy, its
  buffer and envs gone (the next call refills them), and the error propagates;
* an epoch after which a run's loss or parameters are non-finite is undone for that run:
  with ``diverged=None`` the loop raises :class:`~gcrl_depth.crl.engine.divergence.TrainingDivergedError`
  (one run); given a dict, the run is recorded there by seed, warned about, and dropped while
  the others train on (a set: members never share a reduction, so one run's NaN cannot reach
  another's numbers).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from tqdm.auto import tqdm

from gcrl_depth.checks import positive_int
from gcrl_depth.compile_clock import compile_seconds
from gcrl_depth.crl.engine.config import CRLConfig
from gcrl_depth.crl.engine.divergence import TrainingDivergedError, first_non_finite_leaf, non_finite_metric
from gcrl_depth.crl.engine.train import AgentState, TrainState
from gcrl_depth.crl.training.run import Run
from gcrl_depth.crl.training.runners import Runner
from gcrl_depth.evaluation import EvaluationResult
from gcrl_depth.interrupts import deferred_interrupts


@dataclasses.dataclass(frozen=True)
class Epoch:
    """What the progress function sees after an epoch: its number, the live joined state, the runs
    still training, and each one's metrics and evaluation (None when evaluation is off)."""

    number: int
    state: Any
    runs: list[Run]
    metrics: list[dict[str, float]]
    evaluations: list[EvaluationResult | None]


Progress = Callable[[Epoch], Any]  # returns False to stop training


def agent_copy(state: AgentState | TrainState) -> AgentState:
    """A copy of the learner, key and counters, without buffer or envs: what a failed epoch falls back to."""
    agent = state.agent if isinstance(state, TrainState) else state
    return jax.tree_util.tree_map(jnp.copy, agent)


def train(runner: Runner, runs: list[Run], config: CRLConfig, total_timesteps: int, *, epoch_timesteps: int,
          evaluate: bool, progress: Progress | None = None, log_interval: int = 1, progress_bar: bool = False,
          reset_num_timesteps: bool = True, diverged: dict[int, str] | None = None) -> list[Run]:
    """Train every run for ``total_timesteps`` env steps (rounded up to whole iterations); returns
    the runs still training (all of them unless ``diverged`` collected some; see the module).

    ``progress(epoch)`` runs after every epoch's evaluation and logs, while each run's ``state``
    shows its current parameters (:meth:`Runner.views`); returning False stops training.
    """
    total_timesteps = positive_int(total_timesteps, "total_timesteps")
    log_interval = positive_int(log_interval, "log_interval")
    if not runs:
        raise ValueError("train needs at least one run")
    if len({run.has_buffer for run in runs}) > 1:  # all runs refill together
        for run in runs:
            run.state = agent_copy(run.state)
    for run in runs:
        run.check_budget(config, total_timesteps)
        if reset_num_timesteps:
            run.num_timesteps = 0
    target = runs[0].num_timesteps + total_timesteps
    per_epoch = max(1, round(epoch_timesteps / config.env_steps_per_iteration))
    bar = tqdm(total=runs[0].planned_timesteps(config, target), initial=runs[0].num_timesteps, unit="step",
               dynamic_ncols=True, disable=not progress_bar)
    streams = [run.logger.stream for run in runs]
    if progress_bar:
        for run in runs:
            run.logger.stream = _TqdmStream()  # log tables print above the bar
    loop = _Loop(runner, runs, config, diverged)
    try:
        if not isinstance(loop.state, TrainState):
            loop.prefill()
            bar.update(config.prefill_env_steps)
        epoch = 0
        while loop.runs and loop.runs[0].num_timesteps < target:
            epoch += 1
            remaining = math.ceil((target - loop.runs[0].num_timesteps) / config.env_steps_per_iteration)
            metrics = loop.epoch(min(per_epoch, remaining), epoch)
            if not loop.runs:
                break
            evaluations = loop.evaluate() if evaluate else [None] * len(loop.runs)
            bar.update(loop.runs[0].num_timesteps - bar.n)
            bar.set_postfix(_bar_postfix(metrics[0], evaluations[0]), refresh=False)
            if epoch % log_interval == 0 or loop.runs[0].num_timesteps >= target:
                for run in loop.runs:
                    run.logger.dump(run.num_timesteps)
            for run, view in zip(loop.runs, runner.views(loop.state)):
                run.state = view
            if progress is not None and progress(Epoch(epoch, loop.state, list(loop.runs), metrics, evaluations)) is False:
                break
    finally:
        bar.close()
        loop.hand_back()
        for run, stream in zip(runs, streams):
            run.logger.stream = stream
    return loop.runs


class _Loop:
    """The joined state of the runs still training, with the copy a failed program falls back to."""

    def __init__(self, runner: Runner, runs: list[Run], config: CRLConfig, diverged: dict[int, str] | None) -> None:
        self.runner, self.runs, self.config, self.diverged = runner, list(runs), config, diverged
        self.state = runner.join([run.state for run in runs])
        self.fallback: Any = None  # set while the joined state may be gone (a donating program raised)

    def prefill(self) -> None:
        last_good = agent_copy(self.state)
        start = time.perf_counter()
        state = self.runner.start(self.state)
        with deferred_interrupts():  # the state and the step counts change together
            try:
                self.state = self.runner.prefill(state)
            except BaseException:
                self.fallback = last_good
                raise
            for run in self.runs:
                run.num_timesteps += self.config.prefill_env_steps
        jax.block_until_ready(self.state.buffer)
        for run in self.runs:
            run.logger.record("time/prefill_s", time.perf_counter() - start)

    def epoch(self, iterations: int, number: int) -> list[dict[str, float]]:
        """One epoch of every run; the diverged undone (and raised, or dropped); the others' metrics."""
        env_steps = iterations * self.config.env_steps_per_iteration
        updates = iterations * self.config.updates_per_iteration
        last_good = agent_copy(self.state)
        compiled_before, start = compile_seconds(), time.perf_counter()
        with deferred_interrupts():
            try:
                state, metrics = self.runner.epoch(self.state, iterations)
            except BaseException:  # e.g. the env's step raised: the donated state may be gone
                self.fallback = last_good
                raise
            self.state = state
            for run in self.runs:
                run.num_timesteps += env_steps
                run.num_updates += updates
        compile_s = compile_seconds() - compiled_before
        elapsed = time.perf_counter() - start - compile_s
        finite = self.runner.finite(self.state)
        kept, going_on = [], []
        for index, (run, values) in enumerate(zip(self.runs, metrics)):
            what = non_finite_metric(values)
            if what is None and not finite[index]:
                what = self._non_finite_parameter(index)
            if what is None:
                going_on.append(run.record_epoch(values, env_steps, updates, elapsed, compile_s))
                kept.append(index)
                continue
            with deferred_interrupts():  # the envs and buffer may hold NaN: the next call refills them
                run.num_timesteps -= env_steps
                run.num_updates -= updates
                run.state = self.runner.split(last_good)[index]
            self._diverged(run, number, env_steps, what)
        if len(kept) < len(self.runs):  # the others go on as a smaller set (a new program, no NaN physics)
            self.runs = [self.runs[i] for i in kept]
            self.state = self.runner.keep(self.state, kept) if kept else None
        return going_on

    def _non_finite_parameter(self, index: int) -> str:
        leaf = first_non_finite_leaf(self.runner.split(self.state)[index].learner) if len(self.runs) == 1 else None
        return f"parameter {leaf} is not finite" if leaf else "a parameter became non-finite"

    def _diverged(self, run: Run, number: int, env_steps: int, what: str) -> None:
        if self.diverged is None:
            self.runs, self.state = [], None  # the run already holds its last finite parameters
            raise TrainingDivergedError(
                f"training diverged in epoch {number} (env steps {run.num_timesteps:,} to "
                f"{run.num_timesteps + env_steps:,}): {what}. The agent keeps the last finite parameters, from "
                f"{run.num_timesteps:,} env steps; try a lower learning_rate (now {self.config.learning_rate:g})")
        self.diverged[run.seed] = f"epoch {number} (from env step {run.num_timesteps:,}): {what}"
        warnings.warn(f"run set member seed {run.seed} diverged in {self.diverged[run.seed]}; it keeps its last "
                      "finite parameters, the other members train on", RuntimeWarning, stacklevel=5)

    def evaluate(self) -> list[EvaluationResult]:
        start = time.perf_counter()
        results = self.runner.evaluate(self.state, [run.next_evaluation_seed() for run in self.runs])
        elapsed = (time.perf_counter() - start) / len(self.runs)
        for run, result in zip(self.runs, results):
            run.record_evaluation(result, elapsed)
        return results

    def hand_back(self) -> None:
        """Give every run still training its state (the last good one after a failed program)."""
        source = self.fallback if self.fallback is not None else self.state
        if source is None:
            return
        for run, state in zip(self.runs, self.runner.split(source)):
            run.state = state


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
