"""stable-worldmodel's own LeWM code, for tests that check our import/export against it.

stable-worldmodel 0.1.1 (installed with ``--no-deps``, see the Makefile) imports its whole package eagerly: datasets
on Lance, environments, solvers. Its model classes and ``save_pretrained`` / ``load_pretrained`` need only torch,
einops, loguru, omegaconf and hydra, so this module registers bare parent packages (``stable_worldmodel``,
``stable_worldmodel.data``) that point at the installed source and imports the real ``stable_worldmodel.wm``
underneath them. The encoder their configs name, stable-pretraining's ``vit_hf``, is a Hugging Face ``ViTModel``;
stable-pretraining itself pulls Lightning, so :func:`vit_hf` below builds that ViTModel the way its docs describe
(size table, MLP 4x, no pooling layer) and is registered as ``stable_pretraining.backbone.utils.vit_hf``.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import pytest

_SIZES = {"tiny": (192, 12, 3), "small": (384, 12, 6), "base": (768, 12, 12)}


def vit_hf(size="tiny", patch_size=16, image_size=224, pretrained=False, use_mask_token=True, **kwargs):
    """stable-pretraining's encoder factory: a transformers ViTModel of a named size, ViTConfig overrides in kwargs."""
    from transformers import ViTConfig, ViTModel

    assert not pretrained, "tests build random-weight models only"
    hidden, layers, heads = _SIZES[size]
    params = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  intermediate_size=4 * hidden, image_size=image_size, patch_size=patch_size)
    params.update(kwargs)
    model = ViTModel(ViTConfig(**params), add_pooling_layer=False, use_mask_token=use_mask_token)
    model.config.interpolate_pos_encoding = True
    return model


def _bare_package(name: str, folder: Path | None) -> types.ModuleType:
    if name not in sys.modules:
        module = types.ModuleType(name)
        module.__path__ = [str(folder)] if folder is not None else []
        sys.modules[name] = module
    return sys.modules[name]


def swm():
    """The real ``stable_worldmodel.wm`` module (LeWM, save_pretrained, load_pretrained); skips if not installed."""
    for dep in ("transformers", "einops", "loguru", "omegaconf", "hydra"):
        pytest.importorskip(dep)
    if "stable_worldmodel.wm" in sys.modules:
        return sys.modules["stable_worldmodel.wm"]
    spec = importlib.util.find_spec("stable_worldmodel")
    if spec is None:
        pytest.skip("stable-worldmodel is not installed (make setup installs it)")
    root = Path(next(iter(spec.submodule_search_locations)))
    _bare_package("stable_worldmodel", root)
    data = _bare_package("stable_worldmodel.data", root / "data")
    data_utils = importlib.import_module("stable_worldmodel.data.utils")
    data.get_cache_dir, data.ensure_dir_exists = data_utils.get_cache_dir, data_utils.ensure_dir_exists
    for name in ("stable_pretraining", "stable_pretraining.backbone"):
        _bare_package(name, None)
    if "stable_pretraining.backbone.utils" not in sys.modules:
        utils = types.ModuleType("stable_pretraining.backbone.utils")
        utils.vit_hf = vit_hf
        sys.modules["stable_pretraining.backbone.utils"] = utils
    return importlib.import_module("stable_worldmodel.wm")


def their_config(small: bool, action_block: int = 10) -> dict:
    """A LeWM config.json as le-wm's ``config/train/model/lewm.yaml`` resolves it (``small``: a fast variant)."""
    embed, hidden, history = (32, 64, 3) if small else (192, 2048, 3)
    encoder = {"_target_": "stable_pretraining.backbone.utils.vit_hf", "size": "tiny", "patch_size": 14,
               "image_size": 224, "pretrained": False, "use_mask_token": False}
    if small:
        encoder.update(patch_size=7, image_size=28, hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
                       intermediate_size=96)
    width = 48 if small else 192
    module = "stable_worldmodel.wm.lewm.module"
    mlp = {"_target_": f"{module}.MLP", "output_dim": embed, "hidden_dim": hidden,
           "norm_fn": {"_target_": "torch.nn.BatchNorm1d", "_partial_": True}}
    return {
        "_target_": "stable_worldmodel.wm.lewm.LeWM", "embed_dim": embed, "history_size": history,
        "encoder": encoder,
        "predictor": {"_target_": f"{module}.Predictor", "num_frames": history, "input_dim": embed,
                      "hidden_dim": embed, "output_dim": embed, "depth": 2 if small else 6,
                      "heads": 4 if small else 16, "mlp_dim": 64 if small else 2048, "dim_head": 8 if small else 64,
                      "dropout": 0.1, "emb_dropout": 0.0},
        "action_encoder": {"_target_": f"{module}.Embedder", "input_dim": action_block, "emb_dim": embed},
        "projector": {**mlp, "input_dim": width},
        "pred_proj": {**mlp, "input_dim": embed},
    }


def build_their_model(config: dict, seed: int = 0):
    """Their LeWM instantiated from ``config`` (as load_pretrained does), every parameter and BatchNorm statistic
    drawn at random (the AdaLN layers start at zero otherwise), in eval mode."""
    import torch
    from hydra.utils import instantiate

    swm()
    model = instantiate(config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
            else:
                t.copy_(0.1 * torch.randn(t.shape, generator=gen))
    return model.eval()
