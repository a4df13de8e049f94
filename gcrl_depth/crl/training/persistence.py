"""DeepCRL's save and load: the agent's state in and out of the checkpoint format (:mod:`gcrl_depth.crl.checkpoints.checkpoint`).

:func:`save_agent` writes what :meth:`DeepCRL.load` needs to rebuild the agent: the config,
the env's record, counts, evaluations, the learner, the run's key and, on request, the
buffer and envs. :func:`load_agent` rebuilds the env (unless one is given), the agent and
its state; the settings a caller may change on load are checked against what the saved
parameters and buffer fix.

A checkpoint records the physics its env stepped (``"physics"``: ``"mjx"`` or ``"spring"``, None
for an env not of gcrl_depth; a checkpoint written before physics were recorded counts as
``"mjx"``). Loaded into an env of another physics, the model runs, with a warning: its numbers
are not comparable with the ones it was trained and evaluated on.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from gcrl_depth.crl.checkpoints import checkpoint
from gcrl_depth.crl.checkpoints.state_store import StateStore, StoredState, is_store, open_checkpoint
from gcrl_depth.crl.engine.config import ARCHITECTURE_FIELDS, OBJECTIVE_FIELDS, CRLConfig
from gcrl_depth.crl.engine.learner import Learner
from gcrl_depth.crl.engine.train import AgentState, TrainState, make_train
from gcrl_depth.crl.env_paths.host import rebuild
from gcrl_depth.crl.training.run import Run
from gcrl_depth.evaluation import EvaluationResult


def save_agent(model: Any, path: str | os.PathLike, include_buffer: bool = False, include_optimizer: bool = True) -> str:
    """Write ``model``'s checkpoint zip atomically; returns its path (see :meth:`DeepCRL.save`)."""
    state = model.run.state
    check_include_buffer(state, include_buffer)
    if include_buffer and not include_optimizer:
        raise ValueError("save(include_buffer=True) is for an exact resume, which needs the optimizer state: "
                         "drop include_optimizer=False")
    learner = jax.device_get(state.learner)
    training = {"buffer": state.buffer, "env": state.env, "episode": state.episode} if include_buffer else None
    return checkpoint.write_checkpoint(path, model.config.to_dict(), agent_meta(model), learner.params,
                                       learner.opt_state if include_optimizer else None, state.key, training)


LEARNER_FIELDS = tuple(f.name for f in dataclasses.fields(Learner))  # get_parameters' keys: params, opt_state


def learner_parameters(learner: Learner) -> dict[str, Any]:
    """Host copies of a learner as stable-baselines3's ``get_parameters`` gives them."""
    learner = jax.device_get(learner)
    return {name: getattr(learner, name) for name in LEARNER_FIELDS}


def learner_with(current: Learner, source: str | os.PathLike | Mapping[str, Any], exact_match: bool = True) -> Learner:
    """``current`` with the parameters of ``source`` (a :func:`learner_parameters` dict or a checkpoint
    zip), checked against its architecture and cast to its dtypes (see ``DeepCRL.set_parameters``)."""
    if isinstance(source, (str, os.PathLike)):
        stored = checkpoint.read_checkpoint(source).learner(jax.device_get(current))
        values = {name: getattr(stored, name) for name in LEARNER_FIELDS}
    elif isinstance(source, Mapping):
        values = dict(source)
    else:
        raise TypeError(f"set_parameters expects a checkpoint path or a dict like get_parameters(), "
                        f"got {type(source).__name__}")
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
    return current.replace(**updates)


def save_state(model: Any, store: StateStore, include_buffer: bool = True) -> None:
    """Start writing ``model``'s whole training state (with the buffer unless told not to) as the
    store's checkpoint at its env-step count, ranked by its last evaluation's time at goal."""
    check_include_buffer(model.run.state, include_buffer)
    last = model.evaluations.results[-1].time_at_goal if model.evaluations.results else None
    store.save(model.num_timesteps, model.config.to_dict(), agent_meta(model), state_sections(model.run.state, include_buffer),
               score=last)


def state_sections(state: TrainState, include_buffer: bool) -> dict[str, Any]:
    """A training state as a store's sections: parameters, optimizer state and (with the buffer) the rest."""
    sections = {"params": state.learner.params, "optimizer": state.learner.opt_state}
    if include_buffer:
        sections["training"] = {"buffer": state.buffer, "env": state.env, "episode": state.episode}
    return sections


def check_include_buffer(state: TrainState, include_buffer: bool) -> None:
    if not isinstance(include_buffer, bool):
        raise TypeError(f"include_buffer must be True or False, got {include_buffer!r}")
    if include_buffer and not isinstance(state, TrainState):
        raise ValueError("include_buffer=True needs a replay buffer, which learn() fills; this agent has none yet")


def physics_of(core: Any) -> str | None:
    """The physics a gcrl_depth env core steps (``"mjx"`` or ``"spring"``); None for no core (an env
    of the host path)."""
    physics = getattr(core, "physics", None)
    return physics if isinstance(physics, str) else None


def saved_physics(meta: dict[str, Any]) -> str | None:
    """The physics a checkpoint's model was trained on: its record; for a checkpoint written before
    physics were recorded, its task options' ``physics``, else ``"mjx"``."""
    if "physics" in meta:
        return meta["physics"]
    return (meta.get("task_kwargs") or {}).get("physics", "mjx")


def warn_other_physics(saved: str | None, running: str | None, where: str, stacklevel: int = 2) -> None:
    """A UserWarning when a model trained on ``saved`` physics runs on an env of ``running`` physics
    (nothing where either is None: an env not of gcrl_depth)."""
    if saved is not None and running is not None and saved != running:
        warnings.warn(f"{where}: model trained on {saved!r} physics, env runs {running!r}: the policy runs, but its "
                      "numbers are not comparable", UserWarning, stacklevel=stacklevel + 1)


def agent_meta(model: Any) -> dict[str, Any]:
    """What a checkpoint records of ``model`` besides its arrays: env, physics, sizes, counts, key, evaluations."""
    state = model.run.state
    lineage = {"lineage": model.lineage} if getattr(model, "lineage", None) is not None else {}
    return {
        "algorithm": "DeepCRL",
        **model.path.record(),
        "physics": physics_of(model.core),
        "sizes": model.sizes.as_dict(),
        "seed": model.seed,
        "num_timesteps": model.num_timesteps,
        "num_updates": model.num_updates,
        "iterations": int(state.iterations),
        "agent": {"eval_episodes": model.eval_episodes, "epoch_timesteps": model.epoch_timesteps,
                  "eval_env": model.eval_env if isinstance(model.eval_env, str) else None},
        "key": np.asarray(jax.random.key_data(state.key)).tolist(),
        "evaluations": [{"env_steps": s, **dataclasses.asdict(r)}
                        for s, r in zip(model.evaluations.env_steps, model.evaluations.results)],
        **lineage,
    }


def restore_progress(run: Run, meta: dict[str, Any]) -> None:
    """Set a run's counts and evaluation history to a checkpoint's; its logger drops what was logged
    after that checkpoint, so a resumed run's logs hold no step twice."""
    run.num_timesteps, run.num_updates = meta["num_timesteps"], meta["num_updates"]
    for record in meta["evaluations"]:
        record = dict(record)
        steps = record.pop("env_steps")
        run.evaluations.add(steps, EvaluationResult(**record))
    run.logger.rewind(run.num_timesteps)


def load_agent(cls: type, path: str | os.PathLike, env: Any = None, **kwargs: Any) -> Any:
    """Rebuild an agent of ``cls`` from a checkpoint (see :meth:`DeepCRL.load`)."""
    stored = open_stored(path)
    config, meta, has_buffer = stored.config, stored.meta, stored.has_training_state
    unknown = sorted(set(config) - {f.name for f in dataclasses.fields(CRLConfig)})
    if unknown:
        writer = (meta.get("versions") or {}).get("gcrl_depth", "another version")
        raise ValueError(f"{stored.path!r} was saved by gcrl_depth {writer} with config options this version does not "
                         f"know: {unknown}")
    saved = {**{f.name: f.default for f in dataclasses.fields(CRLConfig)}, **config}  # older checkpoints: defaults
    for name in set(kwargs) & {*ARCHITECTURE_FIELDS, *OBJECTIVE_FIELDS}:
        if kwargs[name] == saved[name]:  # what the saved model is anyway
            kwargs.pop(name)
    for names, why in ((ARCHITECTURE_FIELDS, "the saved parameters fix the architecture"),
                       (OBJECTIVE_FIELDS, "the saved critic was trained for that objective")):
        fixed = sorted(set(kwargs) & set(names))
        if fixed:
            raise ValueError(f"load cannot change {fixed}: {why} ({', '.join(f'{k}={saved[k]!r}' for k in fixed)}); "
                             "build a new DeepCRL to train another")
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
    if built:
        model.path.own(env.close)  # the env load built closes with the agent
    if model.sizes.as_dict() != meta["sizes"]:
        model.close()
        raise ValueError(f"env sizes {model.sizes.as_dict()} differ from the checkpoint's {meta['sizes']}")
    try:
        model.run.state = restored_state(model, stored)
    except BaseException:
        model.close()
        raise
    restore_progress(model.run, meta)
    model.lineage = meta.get("lineage")
    # the caller of DeepCRL.load is 3 frames up (here, DeepCRL.load, the caller)
    warn_other_physics(saved_physics(meta), physics_of(model.core), repr(stored.path), stacklevel=3)
    return model


def open_stored(path: str | os.PathLike) -> checkpoint.Checkpoint | StoredState:
    """A checkpoint zip, or the newest checkpoint of a :class:`StateStore` folder (a run set's refused)."""
    if not is_store(path):
        return checkpoint.read_checkpoint(path)
    stored = open_checkpoint(path)
    if "members" in stored.meta:
        raise ValueError(f"{stored.path!r} is a run set's checkpoint ({len(stored.meta['members'])} seeds): "
                         "resume it with RunSet.resume, or load one member's best or final model")
    return stored


def restored_state(model: Any, stored: checkpoint.Checkpoint | StoredState) -> TrainState:
    """The saved learner, key and counters, and (if saved) the buffer and envs, as ``model``'s state."""
    learner = jax.device_put(stored.learner(jax.device_get(model.learner)))
    agent = AgentState(learner=learner, key=stored.key(), iterations=jnp.asarray(stored.meta.get("iterations", 0), jnp.int32))
    if not stored.has_training_state:
        return agent
    one_device = make_train(model.config, model.sizes, model.core)  # the saved state's layout: every env
    template = jax.eval_shape(one_device.start, agent)
    like = {"buffer": template.buffer, "env": template.env, "episode": template.episode}
    return TrainState(learner=agent.learner, key=agent.key, iterations=agent.iterations,
                      **jax.device_put(stored.training(like)))
