"""Pictures during training: a video of an evaluation episode and the Q-map panel, logged to
TensorBoard and Weights & Biases (``gcrl-depth train --capture-video N --capture-qmap N``)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from gcrl_depth.callbacks import BaseCallback
from gcrl_depth.checks import positive_int


class CaptureMedia(BaseCallback):
    """Every ``video_every``-th evaluation, renders one episode of the evaluation env
    (``eval/video``); every ``qmap_every``-th, on gcrl_depth's mazes, draws the Q-map panel
    toward the farthest cell (``eval/q_map``). 0 turns either off. What cannot be drawn here
    (no OpenGL for MuJoCo's renderer, an env without an id, a task that is not a maze) is
    skipped with a one-line warning at the start of training.

    Args:
        video_every, qmap_every: evaluations between pictures (0: none).
        size: the video's width and height in pixels.
        frame_every: keep every N-th frame (the video plays N times faster than real time).
    """

    def __init__(self, video_every: int = 0, qmap_every: int = 0, size: int = 160, frame_every: int = 5,
                 verbose: int = 0) -> None:
        super().__init__(verbose)
        self.video_every = positive_int(video_every, "video_every", minimum=0)
        self.qmap_every = positive_int(qmap_every, "qmap_every", minimum=0)
        self.size, self.frame_every = positive_int(size, "size"), positive_int(frame_every, "frame_every")
        self.evaluations = 0
        self.video_env: tuple[str, dict[str, Any]] | None = None

    def _on_training_start(self) -> None:
        if self.video_every:
            self.video_env = self._renderable_env()
            if self.video_env is None:
                self.video_every = 0
        if self.qmap_every and getattr(self.model.core, "maze", None) is None:
            warnings.warn(f"--capture-qmap: Q-maps need a gcrl_depth maze; {self.model.env_id} is not one, so none "
                          "are logged", stacklevel=2)
            self.qmap_every = 0

    def _on_step(self) -> bool:
        if self.locals.get("evaluation") is None:
            return True
        self.evaluations += 1
        due_video = self.video_every and self.evaluations % self.video_every == 0
        due_qmap = self.qmap_every and self.evaluations % self.qmap_every == 0
        if due_video:
            self.logger.record_video("eval/video", *self._episode_frames())
        if due_qmap:
            self.logger.record_image("eval/q_map", self._q_map_pixels())
        if due_video or due_qmap:
            self.logger.dump(self.num_timesteps)
        return True

    def _renderable_env(self) -> tuple[str, dict[str, Any]] | None:
        """The evaluation env's id and options, if it renders here; else None after a warning."""
        import gymnasium as gym

        from gcrl_depth.crl.env_paths.device import evaluation_env
        from gcrl_depth.envs import is_gcrl_id, task_name

        env_id = self.model.env_id
        if env_id is None:
            warnings.warn("--capture-video: the env has no id to render it by, so no videos are logged", stacklevel=3)
            return None
        target = evaluation_env(task_name(env_id), self.model.task_kwargs) if is_gcrl_id(env_id) else (env_id, {})
        try:  # one small frame: does MuJoCo's renderer (OpenGL) work on this machine?
            env = gym.make(target[0], render_mode="rgb_array", width=8, height=8, **target[1])
            try:
                env.reset(seed=0)
                env.render()
            finally:
                env.close()
        except Exception as error:  # any failure to draw a frame means: no videos here
            warnings.warn(f"--capture-video: {target[0]} cannot render here ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else ''}), so no videos are logged", stacklevel=3)
            return None
        return target

    def _episode_frames(self) -> tuple[np.ndarray, float]:
        from gcrl_depth.video import render_episodes

        env_id, options = self.video_env
        frames, _, fps = render_episodes(lambda obs: self.model.predict(obs)[0], env_id, frame_every=self.frame_every,
                                         seed=self.evaluations, size=self.size, **options)
        return np.stack(frames), fps

    def _q_map_pixels(self) -> np.ndarray:
        from gcrl_depth.analysis.qmap import model_q_map, q_map_figure
        from gcrl_depth.plotting import figure_pixels

        qmap = model_q_map(self.model)
        return figure_pixels(q_map_figure([qmap], title=f"{self.num_timesteps:,} env steps"))
