"""brax's spring pipeline: the physics the paper trained its ant and humanoid on (extra ``spring``).

The System is built from the task's own spec (our asset, maze walls included), with three
changes that brax's pipeline needs or the paper's model had:

* the goal marker (a mocap body, visual only) is left out, and bodies without a joint are
  fused into their parents (``fusestatic``), as brax's own loader fuses them;
* the spring constants (joint and limit stiffness and damping, joint scales, ...) are read
  from brax's asset of the same robot in the installed package (``SpringSettings.constants``):
  the paper's models carried brax's;
* the physics timestep is the paper's (``SpringSettings.timestep``).

Masses and inertias are the ones :func:`~gcrl_depth.envs.models.apply_spring_scaling` gives the
MJX model too, so the System's own spring scales are set to 0 (applied once, not twice).
Contacts come from the installed MJX (brax's pipeline calls ``mjx.collision``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from gcrl_depth.envs.core import with_kinematics
from gcrl_depth.envs.models import compile_spec
from gcrl_depth.envs.physics import SpringSettings

try:  # the optional extra "spring"
    from brax import actuator
    from brax.io import mjcf
    from brax.spring import pipeline
except ImportError:
    actuator = mjcf = pipeline = None

INSTALL = "pip install 'gcrl_depth[spring]'"
# brax's custom numerics that parameterise the spring pipeline (brax.io.mjcf reads them by name).
SPRING_CONSTANTS = (
    "constraint_stiffness", "constraint_limit_stiffness", "constraint_vel_damping", "constraint_ang_damping",
    "joint_scale_pos", "joint_scale_ang", "ang_damping", "vel_damping", "baumgarte_erp", "collide_scale",
    "elasticity", "matrix_inv_iterations", "solver_maxls",
)


def require_brax() -> None:
    """Raise a one-line ImportError naming the extra when brax is not installed."""
    if pipeline is None:
        raise ImportError(f"physics='spring' needs brax, the optional extra 'spring': {INSTALL}")


@functools.cache
def brax_constants(asset: str) -> dict[str, np.ndarray]:
    """The spring constants of one of brax's own assets, read from the installed package (once)."""
    path = importlib.resources.files("brax") / "envs" / "assets" / asset
    if not path.is_file():
        raise FileNotFoundError(f"brax has no asset {asset!r} in {path.parent}")
    reference = mujoco.MjSpec.from_file(str(path))
    return {n.name: np.asarray(n.data, float) for n in reference.numerics if n.name in SPRING_CONSTANTS}


def spring_model(spec: mujoco.MjSpec, settings: SpringSettings) -> mujoco.MjModel:
    """The task's model as brax's spring pipeline takes it (see the module docstring)."""
    spec = spec.copy()
    for body in [b for b in spec.bodies if b.mocap]:
        spec.delete(body)
    spec.compiler.fusestatic = True
    for numeric in [n for n in spec.numerics if n.name in SPRING_CONSTANTS]:
        spec.delete(numeric)
    for name, data in brax_constants(settings.constants).items():
        spec.add_numeric(name=name, data=data, size=len(data))
    spec.option.timestep = settings.timestep
    return compile_spec(spec)


def spring_system(spec: mujoco.MjSpec, settings: SpringSettings) -> Any:
    """brax's System of the task's model under ``settings``."""
    require_brax()
    with warnings.catch_warnings():  # brax warns on every load that it is no longer developed
        warnings.simplefilter("ignore", UserWarning)
        system = mjcf.load_model(spring_model(spec, settings))
    return system.replace(spring_mass_scale=0.0, spring_inertia_scale=0.0)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SpringState:
    """brax's spring pipeline state and the control it was last stepped with (for actuator forces)."""

    pipeline: Any
    ctrl: jax.Array


class SpringPipeline:
    """brax's spring pipeline over a task's model (built from ``spec``; ``mjx_model`` is the task's
    MJX model, which computes the body kinematics that observations read)."""

    name = "spring"

    def __init__(self, spec: mujoco.MjSpec, mjx_model: Any, settings: SpringSettings) -> None:
        self.system = spring_system(spec, settings)
        self.mjx_model = mjx_model
        self.timestep, self.n_frames = float(settings.timestep), int(settings.n_frames)
        self._blank = mjx.make_data(mjx_model, device=jax.local_devices()[0])

    def start(self, data: mjx.Data) -> SpringState:
        return SpringState(pipeline.init(self.system, data.qpos, data.qvel), jnp.zeros_like(data.ctrl))

    def step(self, state: SpringState, ctrl: jax.Array) -> SpringState:
        inner = jax.lax.fori_loop(0, self.n_frames, lambda _, s: pipeline.step(self.system, s, ctrl), state.pipeline)
        return SpringState(inner, ctrl)

    def view(self, state: SpringState) -> mjx.Data:
        """qpos, qvel and ctrl of the state, the kinematics MJX computes from them, and the actuator
        forces in joint space (what XLA does not read of this, it does not compute)."""
        q, qd = state.pipeline.q, state.pipeline.qd
        forces = actuator.to_tau(self.system, state.ctrl, q, qd)
        return with_kinematics(self.mjx_model, self._blank.replace(qpos=q, qvel=qd, ctrl=state.ctrl, qfrc_actuator=forces))

    def select(self, done: jax.Array, new: SpringState, old: SpringState) -> SpringState:
        return jax.tree_util.tree_map(lambda a, b: jnp.where(done, a, b), new, old)
