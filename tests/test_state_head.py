"""The optional state readout (``state_lambda``): off by default, a training term on qpos, saved, resumed, refused
where the data has no state."""

import json

import numpy as np
import pytest
import torch
import yaml
from test_train import TINY
from test_world_model import fit, small_cfg

from world_model import LeWM
from world_model.model.config import ConfigError, LeWMConfig
from world_model.model.state_head import StateHead, state_statistics
from world_model.training.train import main


def batch(cfg, b=4, nq=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = cfg.history_size + 1
    return {"pixels": torch.randint(0, 256, (b, t, cfg.image_size, cfg.image_size, 3), generator=g, dtype=torch.uint8),
            "action": torch.randn(b, t, cfg.action_block_dim, generator=g),
            "qpos": torch.rand(b, t, nq, generator=g) * 6 - 3}


def with_head(**changes):
    return small_cfg(**{**dict(state_lambda=1.0, state_mean=[0.0, 0.0, 0.5], state_std=[1.0, 1.0, 2.0],
                            angle_qpos=[0]), **changes})


def test_off_by_default_and_added_to_the_loss_with_its_weight():
    torch.manual_seed(0)
    plain = LeWM(small_cfg())
    assert plain.state_head is None and "state_head" not in plain.num_parameters()
    assert "state" not in plain.loss(batch(plain.cfg))  # qpos in the batch is ignored without a head
    torch.manual_seed(0)
    model = LeWM(with_head(state_lambda=3.0))
    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731  SIGReg's directions
    out = model.loss(batch(model.cfg), generator=gen())
    rest = out["pred"] + model.cfg.sigreg_lambda * out["sigreg"]
    assert float(out["total"].detach()) == pytest.approx(float((rest + 3.0 * out["state"]).detach()), rel=1e-5)
    with pytest.raises(ValueError, match="qpos"):
        model.loss({k: v for k, v in batch(model.cfg).items() if k != "qpos"})


def test_the_predictions_readout_term_trains_the_predictor_not_the_readout():
    torch.manual_seed(0)
    model = LeWM(with_head(state_pred_lambda=2.0)).eval()  # eval: no dropout between the loss and the hand sum
    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731  SIGReg's directions
    data = batch(model.cfg)
    out = model.loss(data, generator=gen())
    rest = out["pred"] + model.cfg.sigreg_lambda * out["sigreg"] + out["state"]
    assert float(out["total"].detach()) == pytest.approx(float((rest + 2.0 * out["state_pred"]).detach()), rel=1e-5)
    # By hand: the readout of the predictions of frames 1..history against those frames' states.
    n_ctx = model.cfg.history_size
    with torch.no_grad():
        z = model.projector(model.encoder(model._to_images(data["pixels"]))).reshape(4, n_ctx + 1, -1)
        pred = model.predict(z[:, :n_ctx], data["action"][:, :n_ctx])
        hand = (model.state_head.readout(pred) - model.state_head.targets(data["qpos"][:, 1:].reshape(-1, 2))
                .reshape(4, n_ctx, -1)).pow(2).mean()
    assert float(out["state_pred"]) == pytest.approx(float(hand), rel=1e-4)
    model.zero_grad()
    out["state_pred"].backward()
    assert model.state_head.readout.weight.grad is None  # the readout stays the encoder's map
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.predictor.parameters())


def test_targets_are_cos_sin_of_angles_and_z_scored_positions():
    head = StateHead(8, mean=[0.0, 0.0, 0.5], std=[1.0, 1.0, 2.0], angle_qpos=[0])
    t = head.targets(torch.tensor([[np.pi / 2, 4.5]]))
    assert torch.allclose(t, torch.tensor([[0.0, 1.0, 2.0]]), atol=1e-6)
    with pytest.raises(Exception, match="targets"):
        head.targets(torch.zeros(1, 3))
    mean, std = state_statistics(np.array([[0.0, 1.0], [np.pi, 3.0]]), angle_qpos=[0])
    assert np.allclose(mean, [0.0, 0.0, 2.0]) and np.allclose(std, [1.0, 1e-6, 1.0], atol=1e-7)


@pytest.mark.slow
def test_the_readout_learns_the_state_and_survives_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = LeWM(with_head(sigreg_lambda=0.0))
    first, last = fit(model, batch(model.cfg, b=2), "state", steps=60)
    assert last < 0.3 * first
    model.save(tmp_path / "ckpt")
    loaded = LeWM.load(tmp_path / "ckpt")
    assert torch.equal(loaded.state_head.readout.weight, model.state_head.readout.weight)
    assert loaded.cfg.state_std == [1.0, 1.0, 2.0]


@pytest.mark.parametrize("changes, words", [
    (dict(state_lambda=-1.0), "state_lambda"),
    (dict(state_mean=[0.0]), "state_mean and state_std"),
    (dict(state_mean=[0.0], state_std=[1.0, 2.0]), "state_mean and state_std"),
    (dict(state_pred_lambda=-1.0), "state_pred_lambda"),
    (dict(state_pred_lambda=1.0), "set state_lambda > 0"),  # the predictions' readout needs a readout
])
def test_bad_state_settings_are_refused(changes, words):
    with pytest.raises(ConfigError, match=words):
        LeWMConfig.preset("cpu").replace(**changes).validate()


def test_lewm_train_writes_the_statistics_and_resumes_with_them(tmp_path, tiny_reacher_h5):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "state_lambda": 1.0}))
    run = tmp_path / "run"
    assert main(["--config", str(cfg), "--data", str(tiny_reacher_h5), "--out", str(run), "--no-progress",
                 "--steps", "4"]) == 0
    model = LeWM.load(run / "model")
    assert len(model.cfg.state_mean) == 4 and model.state_head is not None  # reacher: 2 angles -> cos, sin each
    assert main(["--resume", "--config", str(cfg), "--data", str(tiny_reacher_h5), "--out", str(run),
                 "--no-progress", "--steps", "8"]) == 0
    train = [r for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if r["kind"] == "train"]
    assert train[-1]["step"] == 8 and all(r["state"] > 0 for r in train)


def test_lewm_train_refuses_state_lambda_without_states(tmp_path, tiny_reacher_h5, capsys):
    import h5py

    data = tmp_path / "no_qpos.h5"
    with h5py.File(tiny_reacher_h5) as src, h5py.File(data, "w") as dst:
        for key in src:
            if key != "qpos":
                src.copy(key, dst)
        dst.attrs.update(src.attrs)
    from conftest import restamp

    restamp(data)  # a valid file without states, as a collector that records none would write it
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "state_lambda": 1.0}))
    assert main(["--config", str(cfg), "--data", str(data), "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "no 'qpos' column" in capsys.readouterr().err


def readout_agent(cost, **cfg_changes):
    from conftest import tiny_config

    from agent import Agent
    from agent.pretrained import make_planner

    torch.manual_seed(0)
    wm = LeWM(tiny_config(**cfg_changes))
    low, high = Agent.planner_box(wm)
    planner = make_planner("cem", wm.cfg.action_block_dim, low, high, torch.device("cpu"), horizon=3,
                           num_samples=12, n_iters=2, topk=3)
    return Agent(wm, planner, cost=cost)


def test_the_readout_cost_is_the_distance_in_readout_units():
    agent = readout_agent("readout", state_lambda=1.0, state_mean=[0.0] * 4, state_std=[1.0] * 4, angle_qpos=[0, 1])
    wm = agent.world_model
    g = torch.Generator().manual_seed(0)
    z_hist, target = torch.randn(1, 3, 32, generator=g), torch.randn(1, 32, generator=g)
    plans = torch.randn(1, 5, 3, wm.cfg.action_block_dim, generator=g)
    cost = agent._cost(z_hist, None, target)(plans)
    with torch.no_grad():
        z = wm.rollout(z_hist, None, plans)
        w = wm.state_head.readout
        expected = (w(z) - w(target)[:, None, None]).pow(2).sum(-1).mean(-1)
    assert cost.shape == (1, 5) and torch.allclose(cost, expected, rtol=1e-4, atol=1e-5)
    latent = readout_agent("all", state_lambda=1.0, state_mean=[0.0] * 4, state_std=[1.0] * 4, angle_qpos=[0, 1])
    assert not torch.allclose(latent._cost(z_hist, None, target)(plans), cost)


def test_the_readout_cost_needs_a_readout():
    with pytest.raises(ValueError, match="state readout"):
        readout_agent("readout")
