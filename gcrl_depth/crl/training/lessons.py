"""Learning from another agent: deep-to-shallow distillation, and the paper's collector/learner experiment.

Both train through the engine's one seam (:class:`~gcrl_depth.crl.engine.lesson.Lesson`: the
peer rides in the training state) with the host loop every DeepCRL trains with, so one seed
or a run set of seeds, progress bars, logs and evaluations work as for ``learn``.

* :func:`distill`: a shallow student learns from a trained teacher (a saved model or a
  DeepCRL): KL to the teacher's policy, the teacher's logit matrix as soft targets, optionally
  its embeddings and the ordinary CRL losses (kickstarting). The result is an ordinary
  :class:`~gcrl_depth.crl.training.agent.DeepCRL` (a :class:`~gcrl_depth.crl.training.run_set.RunSet`
  for several teachers) whose ``lineage`` records the teacher (path, hashes) and the lesson;
  ``save`` keeps it, ``learn`` trains on by plain CRL.
* :func:`collect_learn`: a collector (deep) trains and collects as usual; a learner (shallow)
  trains by plain CRL on the collector's minibatches only and never acts. Both are evaluated
  with the usual protocol after every epoch (same goals for both).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from typing import Any, cast

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from gcrl_depth.checks import positive_int
from gcrl_depth.crl.checkpoints.checkpoint import check_same_shapes
from gcrl_depth.crl.engine.config import CRLConfig
from gcrl_depth.crl.engine.learner import Learner
from gcrl_depth.crl.engine.lesson import Lesson
from gcrl_depth.crl.engine.train import AgentState, TrainState, make_train
from gcrl_depth.crl.training.agent import DEFAULT_EPOCH_TIMESTEPS, DEFAULT_EVAL_EPISODES, DeepCRL
from gcrl_depth.crl.training.loop import Epoch, train
from gcrl_depth.crl.training.run_set import RunSet
from gcrl_depth.crl.training.runners import OneRun, StackedRuns

# The architecture fields a student does not inherit from its teacher (its own depth and width rule).
_OWN_ARCHITECTURE = ("actor_depth", "critic_depth", "actor_width", "critic_width")


# ----------------------------------------------------------------- distillation
def distill(teacher: Any, depth: int = 4, *, timesteps: int, acting: str = "learner", actor_loss: str = "kl",
            actor_weight: float = 1.0, critic_weight: float = 1.0, embedding_weight: float = 0.0,
            crl_weight: float = 0.0, anneal_timesteps: int = 0, env: Any = None, eval_env: Any = None,
            eval_episodes: int = DEFAULT_EVAL_EPISODES, epoch_timesteps: int = DEFAULT_EPOCH_TIMESTEPS,
            log_dir: str | os.PathLike | None = None, progress_bar: bool = False, **config: Any) -> DeepCRL | RunSet:
    """Distill ``teacher`` into a student of ``depth`` layers per tower, trained for ``timesteps`` env steps.

    Args:
        teacher: a saved model (zip, or a ``--save-every`` folder), a DeepCRL, or a list of them:
            one student per teacher, trained as one run set, each with its teacher's seed.
        depth: the student's residual depth (``width`` and the training settings default to
            the teacher's; ``**config`` overrides them).
        timesteps: env steps the lesson collects (prefill included).
        acting: ``"learner"``: the student acts and the teacher labels its states (DAgger
            style); ``"teacher"``: the teacher's rollouts.
        actor_loss, actor_weight, critic_weight, embedding_weight, crl_weight: the lesson's
            loss (:class:`~gcrl_depth.crl.engine.lesson.Lesson`).
        anneal_timesteps: env steps over which the distillation weights fall to 0 (0: never);
            with ``crl_weight`` > 0 this is kickstarting.
        env: the env to train on (default the teacher's); another env id or other sizes are refused.
        eval_env, eval_episodes, epoch_timesteps, log_dir: as DeepCRL's (RunSet's for several).

    Returns:
        the student: a DeepCRL (a RunSet for a list of teachers) whose ``lineage`` records the lesson.
    """
    given = list(teacher) if isinstance(teacher, (list, tuple)) else [teacher]
    if not given:
        raise ValueError("distill needs at least one teacher")
    teachers: list[_Teacher] = []
    try:
        for one in given:
            teachers.append(_teacher(one))
        first = teachers[0].model
        for other in teachers[1:]:
            if _setting(other.model) != _setting(first):
                raise ValueError(f"the teachers of one run set must share env, env options and config: {other.where} "
                                 f"differs from {teachers[0].where}")
        if acting not in ("learner", "teacher"):
            raise ValueError(f"acting must be 'learner' (the student's rollouts) or 'teacher', got {acting!r}")
        lesson_config = _student_config(first.config, depth, config)
        anneal_timesteps = positive_int(anneal_timesteps, "anneal_timesteps", 0)
        if anneal_timesteps and not crl_weight:
            raise ValueError("anneal_timesteps hands the student over to its own CRL losses: give crl_weight > 0 too "
                             "(with crl_weight 0 nothing would be left to learn after the anneal)")
        lesson = Lesson(first.config, acting="peer" if acting == "teacher" else "learner", actor_loss=actor_loss,
                        actor_weight=actor_weight, critic_weight=critic_weight, embedding_weight=embedding_weight,
                        crl_weight=crl_weight, anneal_updates=_updates_in(anneal_timesteps, lesson_config))
        env, built = _same_env(env, first, [t.where for t in teachers], lesson_config)
        try:
            students = _students(env, lesson_config, [t.model.seed for t in teachers], eval_env, eval_episodes,
                                 epoch_timesteps, log_dir)
        except BaseException:
            if built:
                env.close()
            raise
        if built:
            members_of(students)[0].path.own(env.close)
    except BaseException:
        for t in teachers:
            t.close()
        raise
    try:
        members = members_of(students)
        if members[0].sizes != first.sizes:
            raise ValueError(f"the teacher {teachers[0].where} was trained on sizes {first.sizes.as_dict()}; this env has "
                             f"{members[0].sizes.as_dict()}")
        peers = [Learner(t.model.learner.params, None) for t in teachers]  # a frozen teacher needs no Adam state
        records = [t.record() for t in teachers]
        _learn(students, lesson, peers, timesteps, progress_bar)
        for member, record in zip(members, records):
            member.lineage = {"kind": "distilled", "teacher": record, "lesson": lesson.record(),
                              "env_steps_acting": member.num_timesteps if acting == "learner" else 0}
    except BaseException:
        students.close()
        raise
    finally:
        for t in teachers:
            t.close()
    return students


class _Teacher:
    """A teacher model and where it came from (closed with the lesson if this module loaded it)."""

    def __init__(self, model: DeepCRL, where: str, path: str | None, owned: bool) -> None:
        self.model, self.where, self.path, self.owned = model, where, path, owned

    def record(self) -> dict[str, Any]:
        model = self.model
        return {"path": self.path, "file_sha256": _file_hash(self.path) if self.path and os.path.isfile(self.path) else None,
                "parameters_sha256": parameters_hash(model.learner.params), "env_id": model.env_id,
                "seed": model.seed, "num_timesteps": model.num_timesteps, "config": model.config.to_dict(),
                "headline_time_at_goal": model.evaluations.headline() if model.evaluations.results else None}

    def close(self) -> None:
        if self.owned:
            self.model.close()


def _setting(model: DeepCRL) -> tuple[Any, ...]:
    return model.env_id, model.task_kwargs, model.sizes, model.config


def _updates_in(env_steps: int, config: dict[str, Any]) -> int:
    """Gradient steps training takes in ``env_steps`` collected after the prefill (at least 1 for any > 0)."""
    resolved = CRLConfig.from_dict(config)
    updates = round(env_steps * resolved.updates_per_iteration / resolved.env_steps_per_iteration)
    return max(1, updates) if env_steps else 0


def _teacher(teacher: Any) -> _Teacher:
    if isinstance(teacher, DeepCRL):
        return _Teacher(teacher, f"teacher seed {teacher.seed}", None, owned=False)
    if isinstance(teacher, (str, os.PathLike)):
        path = os.fspath(teacher)
        if not os.path.exists(path):
            raise FileNotFoundError(f"teacher {path!r} does not exist (expected a model zip saved by DeepCRL.save or "
                                    "gcrl-depth train)")
        model = DeepCRL.load(path, verbose=0, eval_episodes=0)
        model.run.state = model.run.state.agent if isinstance(model.run.state, TrainState) else model.run.state
        return _Teacher(model, repr(path), os.path.abspath(path), owned=True)  # its parameters alone: no buffer
    raise TypeError(f"a teacher is a DeepCRL or the path of a saved model, got {type(teacher).__name__}")


def _student_config(teacher: CRLConfig, depth: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """The teacher's settings with the student's own depth (and any overrides)."""
    inherited = {k: v for k, v in teacher.to_dict().items() if k not in _OWN_ARCHITECTURE}
    return {**inherited, **overrides, "depth": depth}


def _same_env(env: Any, teacher: DeepCRL, where: list[str], config: dict[str, Any]) -> tuple[Any, bool]:
    """The student's env (the teacher's by default; another env id is refused naming both), and
    whether it was built here."""
    if env is None:
        if teacher.env_id is None:
            raise ValueError(f"the teacher {where[0]} was trained on an env without an id: pass env=")
        if not teacher.task_kwargs:
            return teacher.env_id, False
        return gym.make_vec(teacher.env_id, num_envs=config["num_envs"], **teacher.task_kwargs), True
    env_id = env if isinstance(env, str) else getattr(getattr(env, "spec", None), "id", None)
    if env_id is not None and teacher.env_id is not None and _task(env_id) != _task(teacher.env_id):
        raise ValueError(f"the teacher {where[0]} was trained on {teacher.env_id}; a student on {env_id} would learn "
                         "another task's policy")
    return env, False


def _task(env_id: str) -> str:
    """A gcrl_depth task's name (``PointUMaze`` for ``gcrl_depth/PointUMaze-v0`` too), else the id."""
    from gcrl_depth.envs import is_gcrl_id, task_name

    return task_name(env_id) if is_gcrl_id(env_id) else env_id


# ----------------------------------------------------------------- collector / learner
def collect_learn(env: Any, collector_depth: int = 64, learner_depth: int = 4, *, timesteps: int,
                  seeds: Sequence[int] = (0,), eval_env: Any = None, eval_episodes: int = DEFAULT_EVAL_EPISODES,
                  epoch_timesteps: int = DEFAULT_EPOCH_TIMESTEPS, log_dir: str | os.PathLike | None = None,
                  progress_bar: bool = False, **config: Any) -> tuple[DeepCRL | RunSet, DeepCRL | RunSet]:
    """The paper's collector/learner experiment: a collector of ``collector_depth`` trains and collects
    as usual; a learner of ``learner_depth`` trains by plain CRL on the collector's minibatches only,
    never acting. ``**config`` (any CRLConfig field but the depths) is shared by both.

    Returns ``(learner, collector)``: DeepCRLs for one seed, RunSets for several; logs under
    ``log_dir/learner`` and ``log_dir/collector``. Every epoch both are evaluated on the same goals.
    """
    collector_depth = positive_int(collector_depth, "collector_depth")
    for name in ("depth", "actor_depth", "critic_depth"):
        if name in config:
            raise ValueError(f"collect_learn sets the depths itself (collector_depth, learner_depth); drop {name}")

    def folder(role: str) -> str | None:
        return None if log_dir is None else os.path.join(os.fspath(log_dir), role)

    seeds = list(seeds)
    learners = _students(env, {**config, "depth": learner_depth}, seeds, eval_env, eval_episodes, epoch_timesteps,
                         folder("learner"))
    try:
        collectors = _students(env, {**config, "depth": collector_depth}, seeds, eval_env, eval_episodes,
                               epoch_timesteps, folder("collector"))
    except BaseException:
        learners.close()
        raise
    try:
        learner_members, collector_members = members_of(learners), members_of(collectors)
        lesson = Lesson(collector_members[0].config, acting="peer", peer_learns=True, actor_weight=0.0,
                        critic_weight=0.0, crl_weight=1.0)
        peers = [m.learner for m in collector_members]
        _learn(learners, lesson, peers, timesteps, progress_bar, collectors=collector_members)
        for learner, collector in zip(learner_members, collector_members):
            learner.lineage = {"kind": "learner_on_collector_data", "collector": {"depth": collector_depth,
                               "config": collector.config.to_dict()}, "lesson": lesson.record(), "env_steps_acting": 0}
    except BaseException:
        learners.close()
        collectors.close()
        raise
    return learners, collectors


# ----------------------------------------------------------------- shared
def _students(env: Any, config: dict[str, Any], seeds: list[int], eval_env: Any, eval_episodes: int,
              epoch_timesteps: int, log_dir: str | os.PathLike | None) -> DeepCRL | RunSet:
    """A DeepCRL for one seed, a RunSet for several."""
    config = dict(config)
    depth = config.pop("depth")
    settings = {"eval_env": eval_env, "eval_episodes": eval_episodes, "epoch_timesteps": epoch_timesteps,
                "log_dir": None if log_dir is None else os.fspath(log_dir)}
    if len(seeds) == 1:
        return DeepCRL(env, depth, seeds[0], verbose=0, **settings, **config)
    return RunSet(env, depth, seeds, **settings, **config)


def members_of(holder: DeepCRL | RunSet) -> list[DeepCRL]:
    """A run set's members, or the one model."""
    return holder.members if isinstance(holder, RunSet) else [holder]


def _learn(holder: DeepCRL | RunSet, lesson: Lesson, peers: list[Learner], timesteps: int, progress_bar: bool,
           collectors: list[DeepCRL] | None = None) -> None:
    """Train ``holder``'s runs through ``lesson``, each with its peer; the peers are evaluated as
    ``collectors`` after every epoch when given. The runs end holding their own state alone."""
    members = members_of(holder)
    first = members[0]
    engine = make_train(first.config, first.sizes, first.core, first.engine.data_shards, lesson)  # refuses data_parallel
    if isinstance(holder, RunSet):
        runner: Any = StackedRuns(engine, cast(StackedRuns, holder.runner).evaluation, len(members))  # its evaluation
    else:
        runner = OneRun(first.path.collector(engine), first._evaluate_actor)
    like = jax.eval_shape(engine.init, jax.random.key(0)).peer
    for member, peer in zip(members, peers):
        member.run.state = AgentState(member.learner, member.run.state.key, member.run.state.iterations,
                                      peer=_like(peer, like))
    by_seed = {c.seed: c for c in collectors or []}

    def progress(epoch: Epoch) -> bool:
        if collectors and all(e is not None for e in epoch.evaluations):
            _evaluate_peers(runner, epoch, [by_seed[run.seed] for run in epoch.runs])
        return True

    try:
        train(runner, [m.run for m in members], first.config, positive_int(timesteps, "timesteps"),
              epoch_timesteps=first.epoch_timesteps, evaluate=first.eval_episodes > 0, progress=progress,
              progress_bar=progress_bar, diverged=holder.diverged if isinstance(holder, RunSet) else None)
    finally:
        paired: list[DeepCRL | None] = list(collectors) if collectors else [None] * len(members)
        for member, collector in zip(members, paired):
            state = member.run.state
            if collector is not None and state.peer is not None:  # its own key: not the learner's draws again
                collector.run.state = AgentState(state.peer, jax.random.fold_in(state.key, 1), state.iterations)
                collector.run.num_timesteps, collector.run.num_updates = member.num_timesteps, member.num_updates
            member.run.state = state.replace(peer=None)


def _like(peer: Learner, like: Learner) -> Learner:
    """``peer`` on the device, refused unless its shapes are the lesson's peer's (``like``)."""
    check_same_shapes(like.params, peer.params, "the peer's parameters do not fit the lesson's peer architecture")
    def copy(tree: Any) -> Any:  # the training programs donate their state: never the caller's own arrays
        return jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), tree)

    return Learner(copy(peer.params), None if peer.opt_state is None else copy(peer.opt_state))


def _evaluate_peers(runner: Any, epoch: Epoch, collectors: list[DeepCRL]) -> None:
    """Evaluate each run's peer as its collector model, on the goals its learner just saw."""
    start = time.perf_counter()
    seeds = [c.run.next_evaluation_seed() for c in collectors]
    peer_engine = collectors[0].engine
    if isinstance(runner, StackedRuns):
        results = runner.evaluate_actors(epoch.state.peer.params.actor, seeds, peer_engine)
    else:
        results = [collectors[0]._evaluate_actor(epoch.state.peer.params.actor, seeds[0])]
    elapsed = (time.perf_counter() - start) / len(collectors)
    for collector, run, result in zip(collectors, epoch.runs, results):
        collector.run.num_timesteps, collector.run.num_updates = run.num_timesteps, run.num_updates
        collector.run.record_evaluation(result, elapsed)
        collector.run.logger.dump(run.num_timesteps)


def parameters_hash(params: Any) -> str:
    """SHA-256 of a parameter pytree's arrays (leaf order, dtype, shape and bytes)."""
    digest = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(jax.device_get(params)):
        leaf = np.ascontiguousarray(leaf)
        digest.update(f"{leaf.dtype}{leaf.shape}".encode())
        digest.update(leaf.tobytes())
    return digest.hexdigest()


def _file_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
