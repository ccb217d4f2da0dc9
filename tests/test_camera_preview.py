"""``lewm-collect --preview``: a few frames of one episode and how much of the image the robot fills."""

import os
from pathlib import Path

import numpy as np
import pytest
from cli_faults import run_command
from PIL import Image

from agent.camera_preview import moving_fraction, preview_sheet

ENV = {"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}


def test_moving_fraction_counts_the_pixels_that_change():
    frames = np.zeros((3, 10, 10, 3), np.uint8)
    frames[0, 0, :4] = 255  # a 4-pixel bar that moves one row down each frame: 12 of 100 pixels change
    frames[1, 1, :4] = 255
    frames[2, 2, :4] = 255
    frames[:, 9, 9] = 200  # still: not the robot
    frames[1, 5, 5] = 10  # a flicker below the movement level
    assert moving_fraction(frames) == 0.12


def test_preview_sheet_is_evenly_spaced_frames_side_by_side():
    frames = np.stack([np.full((16, 16, 3), i, np.uint8) for i in range(11)])
    sheet = preview_sheet(frames, count=3)
    assert sheet.shape == (128, 3 * 128 + 2 * 4, 3)
    assert [sheet[0, x, 0] for x in (0, 132, 264)] == [0, 5, 10]


def collect_preview(tmp_path, *args):
    out = tmp_path / "preview.png"
    result = run_command("lewm-collect", "--import", "tiny_gym_env", "--env", "TinyDot-v0", "--preview", out, *args,
                         cwd=tmp_path, extra_env=ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    return result, out


@pytest.mark.slow
def test_preview_of_a_small_robot_warns_and_collects_nothing(tmp_path):
    result, out = collect_preview(tmp_path, "--image-size", 64, "--env-kwargs", '{"speed": 0.005}')
    assert "fills 1.6 % of the image" in result.stdout
    assert "warning: the robot fills 1.6 % of the 64 px image" in result.stderr and "camera closer" in result.stderr
    assert Image.open(out).size == (6 * 128 + 5 * 4, 128)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preview.png"]  # no dataset, no parts folder


@pytest.mark.slow
def test_preview_of_a_large_robot_does_not_warn(tmp_path):
    result, _ = collect_preview(tmp_path, "--image-size", 16)
    assert "warning" not in result.stderr and "fills 41.8 % of the image" in result.stdout


@pytest.mark.slow
def test_without_preview_episodes_and_out_are_required(tmp_path):
    result = run_command("lewm-collect", "--env", "reacher", cwd=tmp_path)
    assert result.returncode == 2 and "required: --episodes, --out" in result.stderr
