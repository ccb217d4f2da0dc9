"""le-wm / stable-worldmodel checkpoints in and out, checked against stable-worldmodel's own LeWM code.

Their model is built with their classes from a le-wm config (random weights, BatchNorm statistics included), saved
with their ``save_pretrained``, imported with ``lewm-import``; embeddings, rollouts and the planning cost's ranking
must agree within 1e-5 (fp32). Our checkpoints exported with ``lewm-export`` must load through their
``load_pretrained`` with every weight bit-exact, and come back bit-exact.
"""
from __future__ import annotations

import json

import pytest
import torch

from swm_reference import build_their_model, swm, their_config
from world_model.interop.cli import export_main, import_main
from world_model.interop.lewm_layout import to_ours, vit_layout_of
from world_model.model.lewm import LeWM

TOL = 1e-5
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def _save_theirs(tmp_path, config, seed=0):
    """Their model, saved by their save_pretrained; returns (model, its checkpoint folder)."""
    from omegaconf import OmegaConf

    model = build_their_model(config, seed=seed)
    swm().utils.save_pretrained(model, "run", config=OmegaConf.create(config), cache_dir=str(tmp_path / "swm"))
    return model, tmp_path / "swm" / "checkpoints" / "run"


def _import(src, out, *extra):
    assert import_main([str(src), "--out", str(out), *extra]) == 0
    return LeWM.load(out)


def _compare(their, ours, side, batch=2, frames=3, samples=6, horizon=4, seed=1):
    """Max |difference| of embeddings and of predicted latents on the same images and actions; also checks that
    the planning cost (final predicted latent vs the goal's, LeWM's criterion) ranks the candidates alike."""
    gen = torch.Generator().manual_seed(seed)
    block = ours.cfg.action_block_dim
    images = torch.randint(0, 256, (batch, frames, side, side, 3), dtype=torch.uint8, generator=gen)
    goal = torch.randint(0, 256, (batch, 1, side, side, 3), dtype=torch.uint8, generator=gen)

    def their_pixels(x):  # their pipeline: scale to [0, 1], ImageNet-normalise, channels first
        return (x.permute(0, 1, 4, 2, 3).float() / 255 - IMAGENET_MEAN) / IMAGENET_STD

    a_hist = torch.randn(batch, frames - 1, block, generator=gen)
    plan = torch.randn(batch, samples, horizon, block, generator=gen)
    with torch.no_grad():
        emb_theirs = their.encode({"pixels": their_pixels(images)})["emb"]
        emb_ours = ours.encode(images)
        info = {"pixels": their_pixels(images).unsqueeze(1).expand(batch, samples, -1, -1, -1, -1),
                "goal": their_pixels(goal).unsqueeze(1).expand(batch, samples, -1, -1, -1, -1)}
        actions = torch.cat([a_hist.unsqueeze(1).expand(batch, samples, -1, -1), plan], dim=2)
        info["action"] = actions[:, :, :frames]  # their get_cost drops it from the goal; rollout sets its own
        pred_theirs = their.rollout(dict(info), actions)["predicted_emb"][:, :, frames:]
        # Their solvers call get_cost one env at a time (batch_size 1): its goal broadcast needs B = 1.
        cost_theirs = torch.cat([their.get_cost({k: v[b: b + 1] for k, v in info.items()}, actions[b: b + 1])
                                 for b in range(batch)])
        pred_ours = ours.rollout(emb_ours, a_hist, plan)
        cost_ours = (pred_ours[:, :, -1] - ours.encode(goal)).pow(2).sum(-1)
    assert emb_ours.shape == emb_theirs.shape and pred_ours.shape == pred_theirs.shape
    assert emb_theirs.std() > 0.05 and pred_theirs.std() > 0.05  # not a degenerate (constant) model
    assert torch.equal(cost_theirs.argmin(1), cost_ours.argmin(1))
    assert torch.equal(cost_theirs.argsort(1), cost_ours.argsort(1))
    return (emb_ours - emb_theirs).abs().max().item(), (pred_ours - pred_theirs).abs().max().item()


@pytest.mark.slow
def test_small_model_imports_equal_to_their_forward(tmp_path):
    their, folder = _save_theirs(tmp_path, their_config(small=True))
    ours = _import(folder, tmp_path / "ours", "--task", "pusht")
    assert (ours.cfg.image_size, ours.cfg.patch_size, ours.cfg.enc_depth, ours.cfg.embed_dim) == (28, 7, 2, 32)
    assert (ours.cfg.frameskip, ours.cfg.action_dim, ours.cfg.task) == (5, 2, "pusht")
    emb, pred = _compare(their, ours, side=28)
    assert emb < TOL and pred < TOL, (emb, pred)


@pytest.mark.slow
def test_published_configuration_imports_equal_to_their_forward(tmp_path):
    """le-wm's published architecture: ViT-tiny, patch 14, 224 px, predictor depth 6 / 16 heads / MLP 2048."""
    their, folder = _save_theirs(tmp_path, their_config(small=False), seed=3)
    ours = _import(folder, tmp_path / "ours")
    assert (ours.cfg.image_size, ours.cfg.patch_size, ours.cfg.enc_depth, ours.cfg.pred_depth,
            ours.cfg.pred_heads, ours.cfg.pred_mlp_dim) == (224, 14, 12, 6, 16, 2048)
    emb, pred = _compare(their, ours, side=224, batch=1, frames=3, samples=4, horizon=2)
    assert emb < TOL and pred < TOL, (emb, pred)


def test_weight_ckpt_without_config_imports_from_shapes(tmp_path):
    """The Drive archive's <name>_weight.ckpt: a bare state dict, sizes read off the weights."""
    config = their_config(small=True)
    config["encoder"].update(hidden_size=192, num_attention_heads=3, intermediate_size=768)  # a known ViT width
    config["projector"]["input_dim"] = 192
    config["predictor"].update(heads=1, dim_head=64)
    their = build_their_model(config)
    (tmp_path / "pusht").mkdir()
    torch.save({"state_dict": {f"model.{k}": v for k, v in their.state_dict().items()}},
               tmp_path / "pusht" / "lewm_weight.ckpt")
    ours = _import(tmp_path / "pusht" / "lewm_weight.ckpt", tmp_path / "ours")
    assert (ours.cfg.enc_width, ours.cfg.enc_heads, ours.cfg.pred_heads, ours.cfg.task) == (192, 3, 1, "pusht")
    emb, pred = _compare(their, ours, side=28)
    assert emb < TOL and pred < TOL, (emb, pred)


def test_export_loads_in_their_loader_bit_exact_and_round_trips(tmp_path):
    their, folder = _save_theirs(tmp_path, their_config(small=True), seed=5)
    ours = _import(folder, tmp_path / "ours", "--task", "pusht", "--action-mean", "0.1,-0.2",
                   "--action-std", "0.5,0.6")
    import transformers

    layout = "transformers4" if transformers.__version__.startswith("4.") else "transformers5"
    assert export_main([str(tmp_path / "ours"), "--out", str(tmp_path / "theirs"), "--vit-layout", layout]) == 0
    loaded = swm().utils.load_pretrained(str(tmp_path / "theirs"), cache_dir=str(tmp_path / "swm"))
    assert type(loaded).__name__ == "LeWM"
    back, skipped = to_ours(loaded.state_dict())
    assert vit_layout_of(loaded.state_dict()) == layout and not skipped
    original = ours.state_dict()
    assert set(back) == set(original)
    assert all(torch.equal(back[k], original[k]) for k in original)
    again = _import(tmp_path / "theirs", tmp_path / "again")  # ours -> theirs -> ours
    assert all(torch.equal(again.state_dict()[k], original[k]) for k in original)
    assert (again.cfg.task, again.cfg.action_mean, again.cfg.action_std) == ("pusht", [0.1, -0.2], [0.5, 0.6])
    emb, pred = _compare(loaded.eval(), again, side=28)
    assert emb < TOL and pred < TOL, (emb, pred)


def test_agent_loads_their_folder_directly(tmp_path):
    """Agent.from_pretrained on their folder converts it on the fly (task from the path: lewm-pusht) and plans."""
    import numpy as np

    from agent.agent import Agent

    _, saved = _save_theirs(tmp_path, their_config(small=True))
    folder = tmp_path / "lewm-pusht"
    saved.rename(folder)
    agent = Agent.from_pretrained(str(folder), planner="cem", device="cpu", num_samples=8, n_iters=1, topk=2,
                                  waypoints=False)
    imported = _import(folder, tmp_path / "ours")
    assert agent.world_model.cfg.task == "pusht" and agent.image_size == 28
    assert all(torch.equal(v, imported.state_dict()[k]) for k, v in agent.world_model.state_dict().items())
    rng = np.random.default_rng(0)
    agent.set_goal(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8))
    assert agent.act(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).shape == (2,)


# ------------------------------------------------------------------------------------- one-line user errors
def _error_line(capsys, argv) -> str:
    assert import_main(argv) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("lewm-import: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_object_ckpt_is_refused_unopened(tmp_path, capsys):
    path = tmp_path / "lewm_object.ckpt"
    path.write_bytes(b"not even a pickle")  # never opened: the name alone says it is a pickled model
    line = _error_line(capsys, [str(path), "--out", str(tmp_path / "out")])
    assert "pickled model" in line and "lewm_weight.ckpt" in line
    line = _error_line(capsys, [str(tmp_path), "--out", str(tmp_path / "out")])  # a folder holding only it
    assert "pickled model" in line
    assert not (tmp_path / "out").exists()


def test_pickled_code_in_a_weights_file_is_refused(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    torch.save(torch.nn.Linear(2, 2), tmp_path / "run" / "weights.pt")  # a whole module, not a state dict
    line = _error_line(capsys, [str(tmp_path / "run"), "--out", str(tmp_path / "out")])
    assert "never unpickles" in line


def test_unmapped_key_is_named(tmp_path, capsys):
    config = their_config(small=True)
    state = {"encoder.embeddings.cls_token": torch.zeros(1, 1, 48), "proprio_encoder.weight": torch.zeros(2, 2)}
    (tmp_path / "run").mkdir()
    torch.save(state, tmp_path / "run" / "weights.pt")
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    line = _error_line(capsys, [str(tmp_path / "run"), "--out", str(tmp_path / "out")])
    assert "'proprio_encoder.weight'" in line and "no counterpart" in line


def test_missing_weight_is_named(tmp_path, capsys):
    """A state dict that maps but lacks weights the config's architecture needs."""
    config = their_config(small=True)
    (tmp_path / "run").mkdir()
    torch.save({"encoder.embeddings.cls_token": torch.zeros(1, 1, 48)}, tmp_path / "run" / "weights.pt")
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    line = _error_line(capsys, [str(tmp_path / "run"), "--out", str(tmp_path / "out")])
    assert "missing keys" in line


def test_export_refuses_a_model_their_code_cannot_hold(tmp_path, capsys):
    """Their LeWM has only the ViT encoder: exporting a CNN model ends in one line, nothing written."""
    from world_model.model.config import LeWMConfig

    LeWM(LeWMConfig.preset("cpu").replace(task="reacher")).save(tmp_path / "cnn")
    assert export_main([str(tmp_path / "cnn"), "--out", str(tmp_path / "theirs")]) == 2
    err = capsys.readouterr().err
    assert err.count("lewm-export: error:") == 1 and "encoder: vit" in err and "Traceback" not in err
    assert not (tmp_path / "theirs").exists()
