"""make demo's program at a tiny size: it keeps the best evaluation's model, evaluates it afresh and films it."""

from __future__ import annotations

import re

from gcrl_depth import DeepCRL
from gcrl_depth.demo import main


def test_the_demo_ends_on_its_best_model(tmp_path, capsys):
    main(["--preset", "tiny", "--timesteps", "200", "--epoch-timesteps", "40", "--eval-episodes", "2",
          "--fresh-episodes", "2", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    kept = re.search(r"best model: evaluation (\d+) of (\d+), at ([\d,]+) env steps \(([\d.]+) on its 2 episodes\)", text)
    assert kept, text
    curve = [(int(steps.replace(",", "")), float(value)) for steps, value in re.findall(r"^ +([\d,]+) +([\d.]+)", text, re.M)]
    number, steps, value = int(kept[1]), int(kept[3].replace(",", "")), float(kept[4])
    assert int(kept[2]) == len(curve) >= 4 and curve[number - 1] == (steps, value)
    assert value == max(v for _, v in curve) and curve.index((steps, value)) == number - 1  # the first best evaluation
    assert text.count("<- best: kept") == 1 and re.search(r"headline: the best model on 2 fresh episodes: time at goal", text)
    best = DeepCRL.load(tmp_path / "best" / "best_model.zip", verbose=0)
    assert best.num_timesteps == steps  # the kept model is that evaluation's, not the final one
    final = DeepCRL.load(tmp_path / "deep_crl_PointUMaze.zip", verbose=0)
    assert final.num_timesteps == curve[-1][0] >= steps
    assert (tmp_path / "rollout.gif").read_bytes()[:3] == b"GIF" and (tmp_path / "learning_curve.png").exists()
