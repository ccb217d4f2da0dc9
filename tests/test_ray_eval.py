"""``lewm-eval --ray``: the groups of a run as Ray jobs on a local two-CPU instance, with the local run's outcomes."""
from __future__ import annotations

import json
import os

import pytest

ray = pytest.importorskip("ray")

FAST = ["--samples", "8", "--iters", "1", "--horizon", "2", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """A local two-CPU Ray instance; its workers know where the crash test leaves its marks."""
    marks = tmp_path_factory.mktemp("ray_marks")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), "OMP_NUM_THREADS": "1",
                                       "LEWM_TEST_RAY_MARKS": str(marks)}})
    yield marks
    ray.shutdown()


def _dies_on_its_first_try(args, task, folder, eval_data, suite, label, agent_kwargs, group, group_size, threads):
    """A job whose worker process dies (os._exit, as a killed worker) the first time group 1 runs; every run of a
    group is marked, so the test sees which groups ran again."""
    from pathlib import Path

    from agent.ray_eval import group_job

    marks = Path(os.environ["LEWM_TEST_RAY_MARKS"])
    tries = len(list(marks.glob(f"group{group}-*")))
    (marks / f"group{group}-{tries}").touch()
    if group == 1 and tries == 0:
        os._exit(1)
    return group_job(args, task, folder, eval_data, suite, label, agent_kwargs, group, group_size, threads)


def _per_episode(out) -> list:
    runs = json.loads((out / "results.json").read_text())
    return [(r["suite"], r["planner"], r["per_episode"]) for r in runs]


def test_ray_refuses_what_its_jobs_cannot_return(tiny_checkpoint, tmp_path, capsys):
    from agent.cli_eval import main

    assert main(["--suite", "free", "--episodes", "1", "--checkpoint", str(tiny_checkpoint), "--ray",
                 "--video-failures", str(tmp_path / "videos"), "--out", str(tmp_path / "out"), *FAST]) == 2
    assert "--video-failures" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_jobs_give_the_local_outcomes_and_a_dead_worker_is_run_again(local_ray, tiny_checkpoint, tmp_path,
                                                                        monkeypatch):
    """Groups of 2 and 1 episodes as two jobs; group 1's worker dies on its first try. Only that job runs again,
    and every episode's outcome is the local run's (same --max-envs)."""
    import sys

    from ray import cloudpickle

    from agent import ray_eval
    from agent.cli_eval import main

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    monkeypatch.setattr(ray_eval, "group_job", _dies_on_its_first_try)
    common = ["--env", "reacher", "--suite", "free", "--planner", "cem", "--episodes", "3", "--budget", "6",
              "--max-envs", "2", "--checkpoint", str(tiny_checkpoint), *FAST]
    assert main([*common, "--ray", "--ray-cpus", "1", "--out", str(tmp_path / "ray")]) == 0
    assert sorted(p.name for p in local_ray.glob("group*")) == ["group0-0", "group1-0", "group1-1"]
    monkeypatch.undo()
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    spread, local = _per_episode(tmp_path / "ray"), _per_episode(tmp_path / "local")
    assert [len(r[2]) for r in spread] == [3] and spread == local
    (ray_run,) = json.loads((tmp_path / "ray" / "results.json").read_text())
    assert ray_run["settings"]["ray_jobs"] == 2
