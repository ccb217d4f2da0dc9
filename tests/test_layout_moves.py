"""experiments/ by topic (experiments/layout_moves.py): no tracked text names a path of the old flat layout, and the
rewrite maps old paths (records, scripts, the scripts that became commands) to the new ones."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "layout_moves.py"


@pytest.fixture(scope="module")
def layout():
    spec = importlib.util.spec_from_file_location("layout_moves", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_text_names_an_old_path(layout, capsys):
    assert layout.main(["--check"]) == 0, capsys.readouterr().out


def test_every_old_path_has_a_new_home_that_exists(layout):
    root = SCRIPT.parents[1]
    for names in layout.SCRIPTS.values():
        for name in names:
            assert (root / layout.new_path(f"experiments/{name}")).is_file(), name
    assert not (root / "experiments" / "results").exists()


@pytest.mark.parametrize("old, new", [
    ("see experiments/results/cube.md.", "see experiments/cube/cube.md."),
    ("[r](../experiments/results/value/reacher_lewm_all/results.md)",
     "[r](../experiments/value/reacher_lewm_all/results.md)"),
    ("experiments/results/planning_speed.{json,md}", "experiments/bench/planning_speed.{json,md}"),
    ("experiments/results/tasks/results.md", "experiments/tasks/all_tasks/results.md"),
    ("python experiments/cube_depth_cue.py --every 4", "python experiments/cube/cube_depth_cue.py --every 4"),
    ("python experiments/ship_checkpoint.py --name x", "lewm-ship --name x"),
    ("[tool](../../experiments/build_waypoints.py)", "[tool](../../agent/cli_waypoints.py)"),
    ("experiments/configs/cube.yaml", "experiments/configs/cube.yaml"),
])
def test_rewrite(layout, old, new):
    assert layout.rewrite_text(old) == new


def test_a_moved_record_keeps_its_relative_links(layout):
    text = "[a](cube_eval/x/results.md) [b](../../docs/value.md) [c](realtime.md#top) [d](https://x.org)"
    assert layout.fix_relative_links(text, "experiments/results/cube.md", "experiments/cube/cube.md", {}) == \
        "[a](cube_eval/x/results.md) [b](../../docs/value.md) [c](../bench/realtime.md#top) [d](https://x.org)"
