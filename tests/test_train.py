"""lewm-train: loss goes down, logs and checkpoints, exact resume, user errors, collapse warning, probe."""
import json
import os
import signal

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from world_model import LeWM, LeWMConfig
from world_model.training import trainer
from world_model.training.probe import main as probe_main
from world_model.training.probe import ridge_fit, scores
from world_model.training.train import main

TINY = dict(preset="cpu", image_size=32, cnn_channels=[8, 16, 32], embed_dim=32, enc_width=32, proj_hidden=64,
            pred_depth=1, pred_heads=2, pred_dim_head=16, pred_mlp_dim=64, sigreg_projections=64, batch_size=8,
            lr=1e-3, steps=8, eval_every=4, eval_batches=1, log_every=1, checkpoint_every=4, precision="fp32")


@pytest.fixture
def tiny_yaml(tmp_path):
    def make(**changes):
        path = tmp_path / "tiny.yaml"
        path.write_text(yaml.safe_dump({**TINY, **changes}))
        return str(path)
    return make


def records(run, kind):
    lines = (run / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


@pytest.mark.slow
def test_a_few_steps_reduce_the_loss():
    torch.manual_seed(0)
    cfg = LeWMConfig.from_dict({**TINY, "image_size": 16, "cnn_channels": [8, 16], "pred_dropout": 0.0})
    model = LeWM(cfg)
    opt = trainer.build_optimizer(model, cfg)
    sched = trainer.build_scheduler(opt, cfg.replace(warmup_fraction=0.0), 1000)
    batch = {"pixels": torch.randint(0, 256, (16, 4, 16, 16, 3), dtype=torch.uint8), "action": torch.randn(16, 4, 10)}
    losses = [trainer.train_step(model, batch, opt, sched, torch.device("cpu"), "fp32", 1.0)["total"]
              for _ in range(25)]
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:3])


def test_schedule_warms_up_then_decays():
    f = [trainer.warmup_cosine(s, 100, 10) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] < 0.01


def test_train_end_to_end_writes_log_checkpoint_and_probe(tmp_path, tiny_yaml, tiny_reacher_h5):
    run = tmp_path / "run"
    assert main(["--config", tiny_yaml(), "--data", str(tiny_reacher_h5), "--out", str(run), "--no-progress"]) == 0
    train = records(run, "train")
    assert [r["step"] for r in train] == list(range(1, 9))
    assert {"pred", "sigreg", "total", "lr", "grad_norm", "samples_per_s"} <= set(train[0])
    evals = records(run, "eval")
    assert [r["step"] for r in evals] == [0, 4, 8]
    assert {"val_pred", "val_sigreg", "std_mean", "std_min", "eff_rank"} <= set(evals[0])
    probe = json.loads((run / "probe.json").read_text())
    assert len(probe["pearson_r"]) == 4 and np.isfinite(probe["r2_mean"])
    model = LeWM.load(run / "model")
    assert model.cfg.task == "reacher" and model.cfg.action_dim == 2 and len(model.cfg.action_std) == 2
    assert probe_main(["--checkpoint", str(run / "model"), "--data", str(tiny_reacher_h5),
                       "--out", str(tmp_path / "p.json")]) == 0
    assert json.loads((tmp_path / "p.json").read_text())["targets"][0] == "cos_qpos0"


@pytest.mark.slow
def test_resume_reproduces_the_uninterrupted_run(tmp_path, tiny_yaml, tiny_reacher_h5, monkeypatch):
    cfg, data = tiny_yaml(pred_dropout=0.1), str(tiny_reacher_h5)
    assert main(["--config", cfg, "--data", data, "--out", str(tmp_path / "a"), "--no-progress"]) == 0

    real_forward, calls = torch.nn.BatchNorm1d.forward, []

    def forward_then_ctrl_c(module, x):
        out = real_forward(module, x)  # the running statistics of this step are updated now
        if module.training:
            calls.append(1)
            if len(calls) == 11:  # Ctrl-C lands inside step 6 (two BatchNorm layers a step), after a forward
                os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(torch.nn.BatchNorm1d, "forward", forward_then_ctrl_c)
    assert main(["--config", cfg, "--data", data, "--out", str(tmp_path / "b"), "--no-progress"]) == 130
    assert [r["step"] for r in records(tmp_path / "b", "train")][-1] == 6  # step 6 finished, then the run stopped
    monkeypatch.setattr(torch.nn.BatchNorm1d, "forward", real_forward)
    assert main(["--resume", "--config", cfg, "--data", data, "--out", str(tmp_path / "b"), "--no-progress"]) == 0
    a, b = (load_file(str(tmp_path / run / "model" / "model.safetensors")) for run in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)  # weights and BatchNorm buffers, bit for bit

    def curve(run):
        return [(r["step"], r["pred"], r["sigreg"], r["total"]) for r in records(run, "train")]

    assert curve(tmp_path / "b") == curve(tmp_path / "a")
    assert [r["val_pred"] for r in records(tmp_path / "b", "eval")] == \
        [r["val_pred"] for r in records(tmp_path / "a", "eval")]


@pytest.mark.parametrize("case", ["missing_data", "bad_key", "existing_run", "resume_nothing", "image_size"])
def test_user_errors_end_in_one_line_and_status_2(tmp_path, tiny_yaml, tiny_reacher_h5, capsys, case):
    cfg, data, out = tiny_yaml(), str(tiny_reacher_h5), str(tmp_path / "run")
    args = {"missing_data": ["--config", cfg, "--data", str(tmp_path / "none.h5"), "--out", out],
            "bad_key": ["--config", cfg, "--data", data, "--out", out, "--set", "learning_rate=0.1"],
            "existing_run": ["--config", cfg, "--data", data, "--out", out],
            "resume_nothing": ["--config", cfg, "--data", data, "--out", out, "--resume"],
            "image_size": ["--config", tiny_yaml(image_size=64, cnn_channels=[8, 16]), "--data", data, "--out", out],
            }[case]
    if case == "existing_run":
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "train_state.pt").write_bytes(b"")
    capsys.readouterr()
    assert main(args + ["--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lewm-train: error: ") and "Traceback" not in err[0]


def test_collapse_is_reported_in_plain_words(tmp_path, tiny_yaml, tiny_reacher_h5, capsys):
    run = tmp_path / "run"
    cfg = tiny_yaml(steps=2, eval_every=2, collapse_rank_threshold=1000.0, sigreg_lambda=0.0)
    assert main(["--config", cfg, "--data", str(tiny_reacher_h5), "--out", str(run), "--no-progress"]) == 0
    assert all(r["collapse_warning"] for r in records(run, "eval"))
    assert "the embeddings are collapsing at step 2" in capsys.readouterr().err


def test_scale_collapse_is_reported_even_with_a_high_rank(caplog):
    """The lambda=0 ablation's collapse: tiny embeddings whose effective rank stays high."""
    import logging

    from world_model.training.run_log import RunLog

    metrics = {"val_pred": 1e-4, "val_pred_rel": 1.1, "val_sigreg": 25.8, "std_mean": 0.006, "std_min": 0.005,
               "eff_rank": 150.0}
    run = RunLog.__new__(RunLog)
    run.record = lambda rec: setattr(run, "rec", rec)
    with caplog.at_level(logging.WARNING):
        run.eval(0, metrics, rank_threshold=8.0, sigreg_lambda=0.0, std_threshold=0.1)
        assert not run.rec["collapse_warning"]  # step 0: an untrained encoder is small too
        run.eval(100, metrics, rank_threshold=8.0, sigreg_lambda=0.0, std_threshold=0.1)
    assert run.rec["collapse_warning"]
    assert "mean std is 0.006, below the threshold 0.100" in caplog.text
    healthy = {**metrics, "std_mean": 0.96}
    run.eval(200, healthy, rank_threshold=8.0, sigreg_lambda=0.1, std_threshold=0.1)
    assert not run.rec["collapse_warning"]


def test_ridge_probe_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8))
    y = x @ rng.normal(size=(8, 3)) + 0.01 * rng.normal(size=(500, 3))
    r2, r = scores(y[400:], ridge_fit(x[:400], y[:400], alpha=1e-3)(x[400:]))
    assert (r2 > 0.99).all() and (r > 0.99).all()


@pytest.mark.slow
def test_torchrun_two_processes_data_parallel(tmp_path, tiny_yaml, tiny_reacher_h5):
    import os
    import subprocess
    import sys

    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    # --standalone: a rendezvous on a free local port, not the fixed 29500 another job on the machine may hold
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
                           "world_model.training.train", "--config", tiny_yaml(steps=2, eval_every=2), "--data",
                           str(tiny_reacher_h5), "--out", str(run), "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[:2000] + "\n...\n" + proc.stderr[-2000:]
    meta = records(run, "meta")[0]
    assert meta["world_size"] == 2 and [r["step"] for r in records(run, "train")] == [1, 2]
    assert LeWM.load(run / "model").cfg.batch_size == 8
