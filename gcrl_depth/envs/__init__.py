"""Goal-conditioned MJX tasks: the registration table and the loop that registers it.

Every task ``Name`` of :data:`TASKS` is registered as ``gcrl_depth/Name-v0`` with a
single-env entry point (:class:`~gcrl_depth.envs.gym_api.GcrlGoalEnv`) and a vector
entry point (:class:`~gcrl_depth.envs.gym_api.GcrlVectorEnv`) under the same id. Each
maze task also gets ``NameEval-v0``, which draws goals from the evaluation layout (the
same as passing ``eval_goals=True``).
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym

from gcrl_depth.envs.core import EnvState, GoalEnv, goal_distance, sparse_reward

NAMESPACE = "gcrl_depth"
VERSION = 0

# name -> (family "module:Class", constructor kwargs)
TASKS: dict[str, tuple[str, dict[str, Any]]] = {
    "PointUMaze": ("gcrl_depth.envs.point:PointMaze", {"layout": "U"}),
    "PointBigMaze": ("gcrl_depth.envs.point:PointMaze", {"layout": "BIG"}),
    "PointHardestMaze": ("gcrl_depth.envs.point:PointMaze", {"layout": "HARDEST"}),
    "Ant": ("gcrl_depth.envs.ant:Ant", {}),
    "AntUMaze": ("gcrl_depth.envs.ant:AntMaze", {"layout": "U"}),
    "AntBigMaze": ("gcrl_depth.envs.ant:AntMaze", {"layout": "BIG"}),
    "AntHardestMaze": ("gcrl_depth.envs.ant:AntMaze", {"layout": "HARDEST"}),
    "AntU4Maze": ("gcrl_depth.envs.ant:AntMaze", {"layout": "U4"}),
    "AntU5Maze": ("gcrl_depth.envs.ant:AntMaze", {"layout": "U5"}),
    "Humanoid": ("gcrl_depth.envs.humanoid:Humanoid", {}),
    "HumanoidUMaze": ("gcrl_depth.envs.humanoid:HumanoidMaze", {"layout": "U"}),
    "HumanoidBigMaze": ("gcrl_depth.envs.humanoid:HumanoidMaze", {"layout": "BIG"}),
    "HumanoidHardestMaze": ("gcrl_depth.envs.humanoid:HumanoidMaze", {"layout": "HARDEST"}),
    "ArmReach": ("gcrl_depth.envs.arm:ArmReach", {}),
    "ArmPushEasy": ("gcrl_depth.envs.arm:ArmPush", {"difficulty": "easy"}),
    "ArmPushHard": ("gcrl_depth.envs.arm:ArmPush", {"difficulty": "hard"}),
    "ArmBinpickEasy": ("gcrl_depth.envs.arm:ArmBinpick", {"difficulty": "easy"}),
    "ArmBinpickHard": ("gcrl_depth.envs.arm:ArmBinpick", {"difficulty": "hard"}),
}
TASKS.update(
    {f"{name}Eval": (family, {**kwargs, "eval_goals": True}) for name, (family, kwargs) in list(TASKS.items()) if "layout" in kwargs}
)


def env_id(task: str) -> str:
    """Gymnasium id of a task name, e.g. ``AntBigMaze`` -> ``gcrl_depth/AntBigMaze-v0``."""
    return f"{NAMESPACE}/{task}-v{VERSION}"


def eval_env_id(task: str) -> str:
    """Id of the task's evaluation twin (``...Eval``: the farthest goals) where it has one, else the task's id."""
    return env_id(f"{task}Eval") if f"{task}Eval" in TASKS else env_id(task)


def is_gcrl_id(name: str) -> bool:
    """Whether ``name`` means a gcrl_depth task (its id, an unknown ``gcrl_depth/...`` id, or a task name)."""
    return name.startswith(f"{NAMESPACE}/") or name in TASKS


def task_name(task_or_id: str) -> str:
    """Task name of a task name or a gcrl_depth Gymnasium id."""
    name = task_or_id
    if name.startswith(f"{NAMESPACE}/"):
        name = name[len(NAMESPACE) + 1 :]
    name = name.removesuffix(f"-v{VERSION}")
    if name not in TASKS:
        raise ValueError(f"unknown task {task_or_id!r}; expected one of {sorted(TASKS)} (or their gcrl_depth/<name>-v0 ids)")
    return name


def make_core(task: str, **overrides: Any) -> GoalEnv:
    """Build the pure-JAX core of a task (by name or id), with constructor overrides."""
    family, kwargs = TASKS[task_name(task)]
    module_name, class_name = family.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**{**kwargs, **overrides})


for _name in TASKS:
    gym.register(
        id=env_id(_name),
        entry_point="gcrl_depth.envs.gym_api:GcrlGoalEnv",
        vector_entry_point="gcrl_depth.envs.gym_api:GcrlVectorEnv",
        kwargs={"task": _name},
    )

__all__ = ["TASKS", "EnvState", "GoalEnv", "env_id", "eval_env_id", "goal_distance", "is_gcrl_id", "make_core", "sparse_reward", "task_name"]
