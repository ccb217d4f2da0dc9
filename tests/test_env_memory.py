"""Evaluation runs its episodes in groups that fit in memory instead of being killed by the kernel."""

import mmap

import numpy as np
import pytest

from agent import env_memory
from agent.env_memory import bytes_per_env, envs_that_fit, group_size
from agent.evaluation import evaluate, to_jsonable
from agent.agent import make_agent

MIB = 2 ** 20
FAST = dict(num_samples=8, n_iters=1, horizon=2, device="cpu")


class HeavyEnv:
    """Holds ``size`` bytes of written (so resident) memory until closed, in pages of its own: an anonymous map,
    not the allocator's, which may hand back memory an earlier test freed and is still resident (no growth)."""

    def __init__(self, size: int):
        self.block = mmap.mmap(-1, size)
        np.frombuffer(self.block, np.uint8)[:] = 1

    def close(self):
        self.block.close()


@pytest.mark.parametrize("wanted, per_env, have, expected", [
    (50, 250 * MIB, 20 * 1024 * MIB, 50),   # the cube on an idle 24 GB machine: all at once
    (50, 250 * MIB, 8 * 1024 * MIB, 26),    # 0.8 x 8 GiB / 250 MiB
    (50, 250 * MIB, 100 * MIB, 1),          # never fewer than one
    (50, None, 100 * MIB, 50),              # unknown size (not Linux): all at once, as before
    (50, 0, 100 * MIB, 50),                 # a light env
    (7, 250 * MIB, None, 7),
])
def test_envs_that_fit(wanted, per_env, have, expected):
    assert envs_that_fit(wanted, per_env, have) == expected


def test_the_cost_of_one_more_env_is_measured():
    if env_memory.rss_bytes() is None:
        pytest.skip("no /proc/self/status here")
    size = bytes_per_env(lambda: HeavyEnv(64 * MIB))
    assert 48 * MIB < size < 96 * MIB


def test_a_run_that_would_not_fit_is_split_and_says_so(monkeypatch, capsys):
    monkeypatch.setattr(env_memory, "bytes_per_env", lambda make_env: 100 * MIB)
    monkeypatch.setattr(env_memory, "available_bytes", lambda: 500 * MIB)
    assert group_size(lambda: None, 10) == 4
    err = capsys.readouterr().err
    assert "10 envs at 100 MiB each would not fit" in err and "--max-envs 4" in err
    assert group_size(lambda: None, 10, max_envs=6) == 6  # the user's size, no measuring
    assert group_size(lambda: None, 3, max_envs=6) == 3
    with pytest.raises(ValueError, match="at least 1"):
        group_size(lambda: None, 3, max_envs=0)


@pytest.mark.slow
def test_a_split_run_plays_every_pair_in_order(tiny_tworoom_checkpoint, tiny_tworoom_h5):
    def run(max_envs):
        agent = make_agent(str(tiny_tworoom_checkpoint), task="tworoom", **FAST)
        return to_jsonable(evaluate("tworoom", "lewm", agent, episodes=7, seed=0, eval_data=tiny_tworoom_h5,
                                    budget=2, progress=False, max_envs=max_envs))

    whole, split = run(None), run(3)
    assert whole["settings"]["envs_at_once"] == 7 and split["settings"]["envs_at_once"] == 3
    assert split["episodes"] == 7
    assert ([e["trivial_start"] for e in split["per_episode"]] == [e["trivial_start"] for e in whole["per_episode"]])
    assert split["replans"] >= whole["replans"]  # three groups plan separately
