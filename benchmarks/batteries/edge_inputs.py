"""The bad-input battery's sibling: the edges of the command line, run folders and files, run files,
checkpoint contents and third-party envs (cases in :mod:`bad_inputs`' terms, judged by its ``classify``).

A command-line case runs ``gcrl-depth`` in this process; an exit status of 2 with one line on
stderr is raised as :class:`CommandError` carrying that line, anything else surfaces as it
happened (a traceback is an unclear error or a deep traceback). A case on files prepares a
folder, hashes every file in it, and afterwards requires every hash unchanged (``intact``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import jax
import numpy as np

from benchmarks.batteries.bad_inputs import TINY, Case, Raises, Works, rewrite_zip, saved
from benchmarks.batteries.line_goal_env import Misbehaving
from gcrl_depth import DeepCRL

CLI_TINY = ["--preset", "tiny", "--no-progress"]


class CommandError(Exception):
    """``gcrl-depth`` ended with exit status 2 and this one line on stderr (its own words: a message
    lacking what was expected is an unclear error, not a deep traceback)."""

    said_by_gcrl_depth = True


def cli(*argv: str) -> int:
    from gcrl_depth.cli.main import main

    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = main(list(argv))
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    said = stderr.getvalue().strip()
    if code == 2 and "Traceback" not in said:
        raise CommandError(said.splitlines()[-1] if said else "(nothing on stderr)")
    return code


class Folder:
    """A temporary folder of prepared files and their hashes when prepared."""

    def __init__(self, files: dict[str, bytes | str] | None = None) -> None:
        self.path = Path(tempfile.mkdtemp())
        for name, data in (files or {}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data if isinstance(data, bytes) else data.encode())
        self.digests = self.snapshot()

    @classmethod
    def around(cls, path: str | Path) -> Folder:
        """The folder a prepared file lies in (alone), hashed as it is."""
        folder = cls.__new__(cls)
        folder.path = Path(path).parent
        folder.digests = folder.snapshot()
        return folder

    def snapshot(self) -> dict[str, str]:
        return {str(p.relative_to(self.path)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.path.rglob("*")) if p.is_file()}

    def intact(self) -> bool:
        return self.snapshot() == self.digests

    def __truediv__(self, name: str) -> Path:
        return self.path / name


def run_folder() -> Folder:
    """A folder holding a finished run (as far as a new run can tell)."""
    return Folder({"final_model.zip": b"a model", "progress.csv": "time/total_timesteps\n100\n",
                   "checkpoints/deep_crl_100_steps.zip": b"a checkpoint"})


def intact(folder: Folder) -> bool:
    return folder.intact()


def empty(folder: Folder) -> bool:
    return not any(folder.path.iterdir())


# ----------------------------------------------------------------- command line
def _cli_cases() -> list[Case]:
    def train(folder: Folder, *flags: str) -> int:
        return cli("train", "PointUMaze", "--log-dir", str(folder.path), *CLI_TINY, *flags)

    refused = Raises((CommandError,), ("already holds a run", "--overwrite", "--resume"), then=intact)
    return [
        Case("train into a folder holding a run", "file", lambda f: train(f, "--timesteps", "100"), refused,
             setup=run_folder, loses_data_if_wrong=True),
        Case("train --overwrite --resume", "argument", lambda f: train(f, "--overwrite", "--resume"),
             Raises((CommandError,), ("exclude each other",), then=intact), setup=run_folder, loses_data_if_wrong=True),
        Case("train --resume with nothing to resume", "argument", lambda f: train(f, "--resume"),
             Raises((CommandError,), ("--resume", "final_model.zip"), then=empty), setup=Folder),
        Case("train --timesteps below the prefill writes nothing", "argument", lambda f: train(f, "--timesteps", "20"),
             Raises((CommandError,), ("prefill",), then=empty), setup=Folder),
        Case("train --timesteps -5", "argument", lambda f: train(f, "--timesteps", "-5"),
             Raises((CommandError,), ("--timesteps", "positive integer"), then=empty), setup=Folder),
        Case("train --log-dir a file", "file", lambda f: cli("train", "PointUMaze", "--log-dir", str(f / "a_file")),
             Raises((CommandError,), ("--log-dir", "is a file", "expected a folder"), then=intact),
             setup=lambda: Folder({"a_file": "notes"})),
        Case("train --log-dir inside a file", "file",
             lambda f: cli("train", "PointUMaze", "--log-dir", str(f / "a_file" / "run"), "--timesteps", "60", *CLI_TINY),
             Raises((CommandError,), ("cannot write or read", "a_file"), then=intact),
             setup=lambda: Folder({"a_file": "notes"})),
        Case("train --config a folder", "file", lambda f: cli("train", "PointUMaze", "--config", str(f.path)),
             Raises((CommandError,), ("--config", "a folder", "YAML or JSON"), then=empty), setup=Folder),
        Case("train --config with a YAML syntax error", "file",
             lambda f: cli("train", "PointUMaze", "--config", str(f / "c.yaml")),
             Raises((CommandError,), ("--config", "not valid YAML"), then=intact),
             setup=lambda: Folder({"c.yaml": "width: [16\n"})),
        Case("train --config a JSON list", "file", lambda f: cli("train", "PointUMaze", "--config", str(f / "c.json")),
             Raises((CommandError,), ("--config", "expected a mapping"), then=intact),
             setup=lambda: Folder({"c.json": "[1, 2]"})),
        Case("eval --episodes 0", "argument", lambda _: cli("eval", "model.zip", "--episodes", "0"),
             Raises((CommandError,), ("--episodes", "positive integer"))),
        Case("eval a model that is not there", "file", lambda f: cli("eval", str(f / "nope.zip")),
             Raises((CommandError,), ("no checkpoint",), then=empty), setup=Folder),
        Case("stitching --depths 4 6", "argument",
             lambda f: cli("stitching", "PointUMaze", "--depths", "4", "6", "--out", str(f / "out")),
             Raises((CommandError,), ("--depths 6", "multiple of 4"), then=empty), setup=Folder),
        Case("stitching --max-cells 50", "argument",
             lambda f: cli("stitching", "PointUMaze", "--max-cells", "50", "--out", str(f / "out")),
             Raises((CommandError,), ("--max-cells 50", "expected 1 to"), then=empty), setup=Folder),
        Case("stitching into a folder holding results", "file",
             lambda f: cli("stitching", "PointUMaze", "--depths", "4", "--out", str(f.path)),
             Raises((CommandError,), ("already holds results", "--overwrite"), then=intact),
             setup=lambda: Folder({"curves.csv": "algo,depth\ncrl,4\n", "summary.md": "# results"}),
             loses_data_if_wrong=True),
        Case("stitching on a task without a maze", "argument", lambda f: cli("stitching", "Ant", "--out", str(f / "out")),
             Raises((CommandError,), ("maze task",), then=empty), setup=Folder),
        Case("qmap goal cell outside the maze", "argument", lambda _: _q_map_at((12, 1)),
             Raises((ValueError,), ("goal cell (12, 1)", "rows 0-"))),
    ]


def _q_map_at(cell: tuple[int, int]) -> Any:
    from gcrl_depth.analysis.qmap import q_map
    from gcrl_depth.envs.mazes import Maze

    maze = Maze.from_layout("U", 4.0)
    return q_map(maze, lambda obs, goal: -np.linalg.norm(obs[:, :2] - goal[:2], axis=-1), cell, np.zeros(4))


# ----------------------------------------------------------------- run files
def _run_files(kind: str) -> Folder:
    header = "algo,depth,width,env_id,seed,env_steps,wall_s,time_at_goal,success_rate,final_distance\n"
    row = "crl,4,16,x,0,{steps},1.0,1.0,0.5,2.0\n"
    rows = header + row.format(steps=40) + row.format(steps=80)
    settings = json.dumps({"task": "PointUMaze", "depth": 4})
    files = {"no_settings": {"run.csv": rows}, "bad_settings": {"run.csv": rows, "run.json": "{'task':"},
             "header_only": {"run.csv": header, "run.json": settings},
             "cut": {"run.csv": rows[:-12], "run.json": settings}}[kind]
    return Folder(files)


def _stored(folder: Folder) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return importlib.import_module("gcrl_depth.campaigns.reproduce").stored_run(folder / "run.csv", {"task": "PointUMaze", "depth": 4})


def _run_file_cases() -> list[Case]:
    not_run = Works(lambda folder, result: result is None and folder.intact())
    return [Case(f"reproduce run file: {kind}", "file", _stored, not_run, setup=functools.partial(_run_files, kind))
            for kind in ("no_settings", "bad_settings", "header_only", "cut")] + [
        Case("read_csv of a file cut mid-row", "file", lambda f: _read_csv(f / "run.csv"),
             Raises((ValueError,), ("run.csv", "line 3")), setup=functools.partial(_run_files, "cut")),
    ]


def _read_csv(path: Path) -> Any:
    from gcrl_depth.rows import read_csv

    return read_csv(path)


# ----------------------------------------------------------------- checkpoints
@functools.lru_cache(maxsize=1)
def _checkpoint() -> str:
    return saved()


def _with_params(edit: Any) -> Folder:
    from flax import serialization

    def change(members: dict[str, bytes]) -> dict[str, bytes]:
        leaves = serialization.msgpack_restore(members["params.msgpack"])
        return {**members, "params.msgpack": serialization.msgpack_serialize(
            {k: edit(k, np.asarray(v)) for k, v in leaves.items()})}

    return Folder.around(rewrite_zip(_checkpoint(), change))


def _with_json(member: str, edit: Any) -> Folder:
    def change(members: dict[str, bytes]) -> dict[str, bytes]:
        return {**members, member: json.dumps(edit(json.loads(members[member]))).encode()}

    return Folder.around(rewrite_zip(_checkpoint(), change))


def _load(folder: Folder) -> DeepCRL:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = DeepCRL.load(folder / "edited.zip", verbose=0)
    model.warnings = [str(w.message) for w in caught]
    return model


def _float32_with_a_warning(_: Any, model: DeepCRL) -> bool:
    dtypes = {leaf.dtype for leaf in jax.tree_util.tree_leaves(model.learner.params)}
    return dtypes == {np.dtype(np.float32)} and any("float16" in w for w in model.warnings)


def _checkpoint_cases() -> list[Case]:
    def nan_alpha(key: str, value: np.ndarray) -> np.ndarray:
        return np.full_like(value, np.nan) if "log_alpha" in key else value

    return [
        Case("load float16 parameters", "file", _load, Works(_float32_with_a_warning),
             setup=lambda: _with_params(lambda k, v: v.astype(np.float16))),
        Case("load NaN parameters", "file", _load,
             Raises((ValueError,), ("edited.zip", "NaN", "log_alpha"), then=intact),
             setup=lambda: _with_params(nan_alpha)),
        Case("load a newer checkpoint format", "file", _load,
             Raises((ValueError,), ("edited.zip", "format 7", "upgrade gcrl_depth"), then=intact),
             setup=lambda: _with_json("metadata.json", lambda m: {**m, "format_version": 7})),
        Case("load a checkpoint without its seed", "file", _load,
             Raises((ValueError,), ("edited.zip", "lacks ['seed']"), then=intact),
             setup=lambda: _with_json("metadata.json", lambda m: {k: v for k, v in m.items() if k != "seed"})),
        Case("load a checkpoint with an unknown config option", "file", _load,
             Raises((ValueError,), ("edited.zip", "does not know", "future_knob"), then=intact),
             setup=lambda: _with_json("config.json", lambda c: {**c, "future_knob": 1})),
    ]


# ----------------------------------------------------------------- third-party envs
def _train_on(fault: str) -> DeepCRL:
    envs = gym.vector.SyncVectorEnv([lambda: gym.wrappers.TimeLimit(Misbehaving(fault), 20)] * 2)
    model = DeepCRL(envs, depth=4, eval_episodes=0, verbose=0, **{**TINY, "num_envs": 2})
    return model.learn(40)


def _env_cases() -> list[Case]:
    return [
        Case("host env returns a NaN observation", "env", lambda _: _train_on("nan"),
             Raises((ValueError,), ("non-finite observation", "step 3", "env's fault"))),
        Case("host env changes its observation's shape", "env", lambda _: _train_on("shape"),
             Raises((ValueError,), ("step 3", "observation space declares"))),
        Case("host env reports success as text", "env", lambda _: _train_on("success_text"),
             Raises((TypeError,), ("info['is_success']", "booleans or numbers"))),
        Case("host env with achieved and desired goals of other sizes", "env", lambda _: _train_on("goal_sizes"),
             Raises((ValueError,), ("achieved_goal", "desired_goal", "same size"))),
    ]


# ----------------------------------------------------------------- files under faults
def _full_disk_plot(folder: Folder) -> Any:
    from matplotlib.figure import Figure

    from gcrl_depth.plotting import plot_curves

    original = Figure.savefig

    def half_then_full(self: Figure, target: Any, *args: Any, **kwargs: Any) -> None:
        with open(target, "wb") if isinstance(target, (str, os.PathLike)) else contextlib.nullcontext(target) as f:
            f.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    Figure.savefig = half_then_full
    try:
        return plot_curves({"depth 4": ([1, 2], [3, 4])}, folder / "curve.png")
    finally:
        Figure.savefig = original


def _file_cases() -> list[Case]:
    return [
        Case("a plot written on a full disk", "fault", _full_disk_plot,
             Raises((OSError,), ("No space left",), then=lambda f: f.intact() and sorted(f.snapshot()) == ["curve.png"]),
             setup=lambda: Folder({"curve.png": b"\x89PNG the old curve"}), loses_data_if_wrong=True),
    ]


CASES: list[Case] = _cli_cases() + _run_file_cases() + _checkpoint_cases() + _env_cases() + _file_cases()

