"""lewm-train says how fast it goes and how long it will take, after a few steps; ``--checkpoint-every``."""

import pytest
import yaml
from cli_faults import assert_user_error, run_command

from world_model.training.train_pace import TrainPace, format_duration


class FakeClock:
    def __init__(self, durations):
        self.t, self.durations = 0.0, list(durations)

    def __call__(self):
        value = self.t
        if self.durations:
            self.t += self.durations.pop(0)
        return value


def test_the_first_step_is_not_timed_and_the_estimate_comes_once():
    clock = FakeClock([30.0] + [4.0] * 20)  # a slow first step, then 4 s each
    pace = TrainPace(start=0, total=3000, checkpoint_every=250, measure_steps=5, clock=clock)
    lines = [pace.step_done(step) for step in range(1, 10)]
    assert [i + 1 for i, line in enumerate(lines) if line] == [6]  # after step 1 (untimed) and 5 timed steps
    line = lines[5]
    assert "measured 4.00 s/step (median of 5 steps)" in line
    assert "2,994 steps left: about 3 h 20 min" in line  # 2,994 x 4 s
    assert "a checkpoint every 250 steps (17 min, the next in 16 min; --checkpoint-every N saves sooner)" in line


def test_a_resumed_run_counts_from_where_it_resumed():
    pace = TrainPace(start=1000, total=1010, checkpoint_every=500, measure_steps=3, clock=FakeClock([1.0] * 20))
    lines = [pace.step_done(step) for step in range(1001, 1011)]
    assert lines[3] is not None and "6 steps left: about 6 s" in lines[3]


def test_a_run_shorter_than_the_measurement_reports_at_its_end():
    pace = TrainPace(start=0, total=3, checkpoint_every=3, measure_steps=5, clock=FakeClock([1.0] * 5))
    lines = [pace.step_done(step) for step in (1, 2, 3)]
    assert lines[:2] == [None, None] and "0 steps left" in lines[2]


def test_durations_read_as_words():
    assert [format_duration(s) for s in (42, 780, 7500)] == ["42 s", "13 min", "2 h 05 min"]


@pytest.mark.slow
def test_checkpoint_every_below_one_is_one_line(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"preset": "cpu"}))
    result = run_command("lewm-train", "--config", tmp_path / "c.yaml", "--checkpoint-every", 0, "--out",
                         tmp_path / "run")
    assert_user_error(result, "lewm-train", "--checkpoint-every must be at least 1")


@pytest.mark.slow
def test_lewm_train_reports_its_pace_and_takes_checkpoint_every(tiny_reacher_h5, tmp_path):
    model = dict(preset="cpu", image_size=32, cnn_channels=[8, 16, 32], embed_dim=32, proj_hidden=64, pred_depth=1,
                 pred_heads=2, pred_dim_head=16, pred_mlp_dim=64, sigreg_projections=32, batch_size=4, eval_every=100,
                 eval_batches=1, log_every=1, precision="fp32")
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(model))
    result = run_command("lewm-train", "--config", tmp_path / "tiny.yaml", "--data", tiny_reacher_h5, "--out",
                         tmp_path / "run", "--steps", 6, "--checkpoint-every", 2, "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    (line,) = [ln for ln in result.stderr.splitlines() if "s/step" in ln]
    assert "median of 5 steps" in line and "0 steps left" in line
    saved = yaml.safe_load((tmp_path / "run" / "model" / "config.yaml").read_text())
    assert saved["checkpoint_every"] == 2
