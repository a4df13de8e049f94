"""Pictures during training: evaluation videos and Q-maps reach TensorBoard and wandb; what cannot be drawn warns once."""

from __future__ import annotations

import sys
import warnings

import imageio.v3 as iio
import numpy as np
import pytest
from fake_wandb import FakeWandb
from tensorboard_events import tensorboard_records
from tiny_agent import PER_ITERATION, PREFILL, TINY, tiny_model

from gcrl_depth import DeepCRL
from gcrl_depth.logger import Logger
from gcrl_depth.media import CaptureMedia


def test_videos_and_q_maps_are_logged_at_their_evaluations(tmp_path, monkeypatch):
    wandb = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    model = tiny_model(eval_episodes=2, epoch_timesteps=PER_ITERATION)
    model.set_logger(Logger(tmp_path, ("csv", "tensorboard", "wandb")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PointUMaze renders here and is a maze: no warning
        model.learn(PREFILL + 4 * PER_ITERATION, callback=CaptureMedia(video_every=2, qmap_every=1, size=32, frame_every=2))
    model.close()

    evaluated = model.evaluations.env_steps
    assert len(evaluated) == 4
    media = [(e.step, v.tag, v.image) for e in tensorboard_records(tmp_path) for v in e.summary.value if v.HasField("image")]
    assert sorted((step, tag) for step, tag, _ in media) == sorted(
        [(s, "eval/q_map") for s in evaluated] + [(s, "eval/video") for s in evaluated[1::2]])
    video = next(image for _, tag, image in media if tag == "eval/video")
    assert (video.height, video.width) == (32, 32) and video.encoded_image_string[:3] == b"GIF"
    logged = {(step, key): value for step, values in wandb.runs[0].logged for key, value in values.items()}
    frames = iio.imread(logged[(evaluated[1], "eval/video")].data.getvalue(), index=None, extension=".gif")
    assert frames.shape == (1 + 12 // 2, 32, 32, 3) and frames.std() > 0  # the reset frame and every 2nd of 12 steps
    panel = logged[(evaluated[0], "eval/q_map")].data
    assert panel.ndim == 3 and panel.shape[2] == 3 and panel.dtype == np.uint8 and len(np.unique(panel)) > 10
    assert ("eval/video" not in str(tmp_path.joinpath("progress.csv").read_text())
            and tmp_path.joinpath("progress.csv").read_text().count("\n") == 1 + 4)  # the CSV: scalars only


def test_what_cannot_be_drawn_is_skipped_with_one_warning(monkeypatch):
    from gcrl_depth.envs import gym_api

    def no_opengl(self, *args, **kwargs):
        raise RuntimeError("gladLoadGL error\n(more lines)")

    monkeypatch.setattr(gym_api._FrameRenderer, "__init__", no_opengl)
    model = tiny_model()
    capture = CaptureMedia(video_every=1, qmap_every=1)
    capture.init_callback(model)
    with pytest.warns(UserWarning, match=r"^--capture-video: gcrl_depth/PointUMazeEval-v0 cannot render here "
                                         r"\(RuntimeError: gladLoadGL error\), so no videos are logged$"):
        capture.on_training_start({}, {})
    assert (capture.video_every, capture.qmap_every) == (0, 1)
    model.close()

    ant = DeepCRL("gcrl_depth/Ant-v0", eval_episodes=2, verbose=0, **TINY)
    capture = CaptureMedia(qmap_every=3)
    capture.init_callback(ant)
    with pytest.warns(UserWarning, match="Q-maps need a gcrl_depth maze; gcrl_depth/Ant-v0 is not one"):
        capture.on_training_start({}, {})
    assert capture.qmap_every == 0
    ant.close()


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bad_intervals_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="video_every must be a non-negative integer"):
        CaptureMedia(video_every=bad)
