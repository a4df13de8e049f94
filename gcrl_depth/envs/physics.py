"""Physics pipelines of the env core: MJX (the default) and brax's spring pipeline (the paper's).

A pipeline steps a task's model and shows its state to the task as an ``mjx.Data``, so a task's
observation and termination read the same fields under every physics:

* ``start(data)``: the pipeline state of a start pose held in ``data`` (qpos, qvel);
* ``step(state, ctrl)``: one control step, ``n_frames`` physics steps at ``ctrl``;
* ``view(state)``: an ``mjx.Data`` with qpos, qvel, body kinematics and actuator forces;
* ``select(done, new, old)``: auto-reset's choice between a fresh and the running state.

``physics="spring"`` needs the optional extra ``spring`` (brax); see :mod:`~gcrl_depth.envs.spring`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
from mujoco import mjx

PHYSICS = ("mjx", "spring")
# Fields of mjx.Data that determine the next step; everything else is recomputed by it.
STATE_FIELDS = ("time", "qpos", "qvel", "act", "ctrl", "qacc_warmstart", "mocap_pos", "mocap_quat")


@dataclasses.dataclass(frozen=True)
class SpringSettings:
    """How the paper's code ran a task on brax's spring pipeline.

    Attributes:
        timestep: physics timestep in seconds.
        n_frames: physics steps per control step.
        constants: brax's own asset (in the installed package) whose spring constants the
            paper's model carried, e.g. ``"ant.xml"``.
    """

    timestep: float
    n_frames: int
    constants: str


def check_physics(physics: str, spring: SpringSettings | None, task: str) -> str:
    """``physics`` if it names a pipeline this task runs on, else a ValueError naming the choices."""
    if physics not in PHYSICS:
        raise ValueError(f"physics must be one of {PHYSICS}, got {physics!r}")
    if physics == "spring" and spring is None:
        raise ValueError(f"{task} runs on MJX only (physics='mjx'); physics='spring' exists for the Ant and Humanoid "
                         "tasks, which the paper trained on brax's spring pipeline")
    return physics


class MjxPipeline:
    """MuJoCo's MJX: the model as written, at its own timestep."""

    name = "mjx"

    def __init__(self, mjx_model: Any, timestep: float, n_frames: int) -> None:
        self.mjx_model, self.timestep, self.n_frames = mjx_model, float(timestep), int(n_frames)

    def start(self, data: mjx.Data) -> mjx.Data:
        return data

    def step(self, state: mjx.Data, ctrl: jax.Array) -> mjx.Data:
        state = state.replace(ctrl=ctrl)
        return jax.lax.fori_loop(0, self.n_frames, lambda _, d: mjx.step(self.mjx_model, d), state)

    def view(self, state: mjx.Data) -> mjx.Data:
        return state

    def select(self, done: jax.Array, new: mjx.Data, old: mjx.Data) -> mjx.Data:
        """``old`` with its ``STATE_FIELDS`` taken from ``new`` where ``done``: the derived fields
        (body poses, contacts, constraint arrays) are recomputed by the next step, and selecting
        the whole ``mjx.Data`` cost 25% of Humanoid's step throughput."""
        return old.replace(**{name: jnp.where(done, getattr(new, name), getattr(old, name)) for name in STATE_FIELDS})


def make_pipeline(physics: str, spec: mujoco.MjSpec, mj_model: mujoco.MjModel, mjx_model: Any, *,
                  n_frames: int, spring: SpringSettings | None, task: str) -> Any:
    """The pipeline ``physics`` for a task's model (``spec`` compiled is ``mj_model``): MJX at the
    model's timestep and ``n_frames``, or brax's spring pipeline as ``spring`` says."""
    if check_physics(physics, spring, task) == "mjx":
        if int(n_frames) < 1:
            raise ValueError(f"n_frames must be a positive integer, got {n_frames}")
        return MjxPipeline(mjx_model, mj_model.opt.timestep, n_frames)
    from gcrl_depth.envs.spring import SpringPipeline

    assert spring is not None  # check_physics refused it
    return SpringPipeline(spec, mjx_model, spring)
