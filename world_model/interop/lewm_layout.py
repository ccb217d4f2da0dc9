"""le-wm / stable-worldmodel layout <-> ours: state-dict key names and the ``config.json`` architecture.

Their LeWM (le-wm's ``JEPA``, stable-worldmodel's ``wm.lewm.LeWM``) holds a Hugging Face ``ViTModel`` as its
encoder, a ``Predictor`` / ``ARPredictor`` (``transformer.layers.N``), an ``Embedder`` and two BatchNorm ``MLP``
projectors. Ours holds the same computation under other names; the ViT's separate query/key/value become one
``qkv`` matrix (rows q, then k, then v). The Hugging Face ViT has two key layouts:

- ``transformers4`` (transformers 4.x, the published checkpoints):
  ``encoder.encoder.layer.N.attention.attention.query``, ``attention.output.dense``, ``intermediate.dense``,
  ``output.dense``;
- ``transformers5`` (transformers 5.x): ``encoder.layers.N.attention.q_proj`` ... ``o_proj``, ``mlp.fc1``, ``mlp.fc2``.

Importing accepts both; exporting writes the one asked for. Nothing here reads or writes files.
"""
from __future__ import annotations

import re

import torch

from common.cli_errors import UserInputError

# Hugging Face ViT sizes as stable-pretraining's ``vit_hf`` names them: (hidden_size, layers, heads); MLP 4x.
VIT_SIZES = {"tiny": (192, 12, 3), "small": (384, 12, 6), "base": (768, 12, 12), "large": (1024, 24, 16),
             "huge": (1280, 32, 16)}
VIT_LAYOUTS = ("transformers4", "transformers5")
PAPER_PRED_DIM_HEAD = 64  # le-wm's predictor head width (config/train/model/lewm.yaml); used when no config says

# Per-layer ViT parameter names: theirs (either layout) -> ours; ("qkv", i) is row block i of our qkv.
_VIT_LAYER_IN = {
    "attention.attention.query": ("qkv", 0), "attention.attention.key": ("qkv", 1),
    "attention.attention.value": ("qkv", 2), "attention.output.dense": "attn.out", "intermediate.dense": "mlp.0",
    "output.dense": "mlp.2",
    "attention.q_proj": ("qkv", 0), "attention.k_proj": ("qkv", 1), "attention.v_proj": ("qkv", 2),
    "attention.o_proj": "attn.out", "mlp.fc1": "mlp.0", "mlp.fc2": "mlp.2",
    "layernorm_before": "norm1", "layernorm_after": "norm2",
}
_VIT_LAYER_OUT = {
    "transformers4": {"prefix": "encoder.encoder.layer.",
                      "qkv": ("attention.attention.query", "attention.attention.key", "attention.attention.value"),
                      "attn.out": "attention.output.dense", "mlp.0": "intermediate.dense", "mlp.2": "output.dense"},
    "transformers5": {"prefix": "encoder.layers.",
                      "qkv": ("attention.q_proj", "attention.k_proj", "attention.v_proj"),
                      "attn.out": "attention.o_proj", "mlp.0": "mlp.fc1", "mlp.2": "mlp.fc2"},
}
_VIT_LAYER_RE = re.compile(r"^encoder\.(?:encoder\.layer|layers)\.(\d+)\.(.+)\.(weight|bias)$")
_VIT_GLOBAL = {  # theirs -> ours, identical in both layouts
    "encoder.embeddings.cls_token": "encoder.cls_token",
    "encoder.embeddings.position_embeddings": "encoder.pos_embed",
    "encoder.embeddings.patch_embeddings.projection.weight": "encoder.patch_embed.weight",
    "encoder.embeddings.patch_embeddings.projection.bias": "encoder.patch_embed.bias",
    "encoder.layernorm.weight": "encoder.norm.weight",
    "encoder.layernorm.bias": "encoder.norm.bias",
}
# Parameters their forward never uses (the pooler is off in vit_hf; the mask token only serves masked pre-training).
_UNUSED = ("encoder.pooler.", "encoder.embeddings.mask_token")
_SAME = ("projector.", "pred_proj.", "action_encoder.", "predictor.pos_embedding")
_PRED_IN = (("predictor.transformer.layers.", "predictor.blocks."), ("predictor.transformer.norm.", "predictor.norm."))
_OURS_ONLY = ("decoder.", "state_head.", "sigreg.")  # training-only parts: planning (and their code) never runs them


class UnmappedKeyError(UserInputError):
    """A weight of their checkpoint has no counterpart in our LeWM (or the reverse)."""


def _hint(key: str) -> str:
    if key.startswith(("predictor.transformer.input_proj", "predictor.transformer.cond_proj",
                       "predictor.transformer.output_proj")):
        return "their predictor's hidden_dim differs from its input_dim, which our predictor does not have"
    if key.startswith(("extra_encoders", "proprio", "action_predictor", "decoder")):
        return "a model with extra heads (proprio, decoder, ...), not the plain LeWM"
    return "not a plain LeWM weight"


def to_ours(state: dict, source: str = "checkpoint") -> tuple[dict, list]:
    """Their state dict -> (our state dict, the names skipped because their forward never uses them).

    Raises:
        UnmappedKeyError: a key that maps to nothing (names it), or a ViT layer missing part of q/k/v.
    """
    out, skipped, qkv = {}, [], {}
    for key, tensor in state.items():
        if key in _VIT_GLOBAL:
            out[_VIT_GLOBAL[key]] = tensor
            continue
        if key.startswith(_UNUSED):
            skipped.append(key)
            continue
        if key.startswith(_SAME):
            out[key] = tensor
            continue
        pred = next((ours + key[len(theirs):] for theirs, ours in _PRED_IN if key.startswith(theirs)), None)
        if pred is not None:
            out[pred] = tensor
            continue
        m = _VIT_LAYER_RE.match(key)
        target = _VIT_LAYER_IN.get(m.group(2)) if m else None
        if target is None:
            raise UnmappedKeyError(f"{source}: weight {key!r} has no counterpart in our LeWM ({_hint(key)}); "
                                   f"only le-wm / stable-worldmodel LeWM checkpoints can be imported")
        layer, param = m.group(1), m.group(3)
        if isinstance(target, tuple):
            qkv.setdefault((layer, param), [None, None, None])[target[1]] = tensor
        else:
            out[f"encoder.blocks.{layer}.{target}.{param}"] = tensor
    for (layer, param), parts in sorted(qkv.items()):
        if any(p is None for p in parts):
            missing = "/".join(n for n, p in zip(("query", "key", "value"), parts) if p is None)
            raise UnmappedKeyError(f"{source}: ViT layer {layer} has no attention {missing} {param}; the file is "
                                   f"incomplete")
        out[f"encoder.blocks.{layer}.attn.qkv.{param}"] = torch.cat(parts, dim=0)
    return out, skipped


def to_theirs(state: dict, vit_layout: str = "transformers4") -> tuple[dict, list]:
    """Our state dict -> (theirs in ``vit_layout``, our training-only keys left out).

    Raises:
        UnmappedKeyError: a key of ours with no counterpart (an encoder other than the ViT, for instance).
    """
    if vit_layout not in VIT_LAYOUTS:
        raise UserInputError(f"ViT layout must be one of {', '.join(VIT_LAYOUTS)}, got {vit_layout!r}")
    names = _VIT_LAYER_OUT[vit_layout]
    back = {ours: theirs for theirs, ours in _VIT_GLOBAL.items()}
    layer_re = re.compile(r"^encoder\.blocks\.(\d+)\.(.+)\.(weight|bias)$")
    out, dropped = {}, []
    for key, tensor in state.items():
        if key in back:
            out[back[key]] = tensor
        elif key.startswith(_SAME):
            out[key] = tensor
        elif key.startswith(_OURS_ONLY):
            dropped.append(key)
        elif key.startswith("predictor.blocks."):
            out["predictor.transformer.layers." + key[len("predictor.blocks."):]] = tensor
        elif key.startswith("predictor.norm."):
            out["predictor.transformer.norm." + key[len("predictor.norm."):]] = tensor
        else:
            m = layer_re.match(key)
            if m is None:
                raise UnmappedKeyError(f"weight {key!r} has no counterpart in le-wm's LeWM (their encoder is the "
                                       f"ViT: export needs encoder: vit)")
            layer, part, param = m.groups()
            prefix = f"{names['prefix']}{layer}."
            if part == "attn.qkv":
                for name, chunk in zip(names["qkv"], tensor.chunk(3, dim=0)):
                    out[f"{prefix}{name}.{param}"] = chunk.clone()
            elif part in names:
                out[f"{prefix}{names[part]}.{param}"] = tensor
            elif part in ("norm1", "norm2"):
                out[f"{prefix}layernorm_{'before' if part == 'norm1' else 'after'}.{param}"] = tensor
            else:
                raise UnmappedKeyError(f"weight {key!r} has no counterpart in le-wm's LeWM")
    return out, dropped


def vit_layout_of(state: dict) -> str:
    """Which Hugging Face key layout their state dict uses (``transformers4`` when it has no ViT layers)."""
    return "transformers5" if any(k.startswith("encoder.layers.") for k in state) else "transformers4"


# ---------------------------------------------------------------------------------------------- config.json
_ENCODER_KEYS = {"_target_", "size", "patch_size", "image_size", "pretrained", "use_mask_token", "hidden_size",
                 "num_hidden_layers", "num_attention_heads", "intermediate_size"}
_PREDICTOR_KEYS = {"_target_", "num_frames", "depth", "heads", "mlp_dim", "input_dim", "hidden_dim", "output_dim",
                   "dim_head", "dropout", "emb_dropout"}
_EMBEDDER_KEYS = {"_target_", "input_dim", "smoothed_dim", "emb_dim", "mlp_scale"}
_MLP_KEYS = {"_target_", "input_dim", "hidden_dim", "output_dim", "norm_fn", "act_fn"}
OUR_EXTRAS_KEY = "lewm_plan"  # our fields (task, action statistics, ...) that their config has no place for
_EXTRA_FIELDS = ("task", "frameskip", "action_dim", "action_mean", "action_std", "action_low", "action_high",
                 "angle_qpos", "env_kwargs", "env_import")


def _section(d: dict, name: str, allowed: set, source: str) -> dict:
    sec = d.get(name)
    if not isinstance(sec, dict):
        raise UserInputError(f"{source}: config.json has no {name!r} section (a le-wm / stable-worldmodel LeWM "
                             f"config has encoder, predictor, action_encoder, projector, pred_proj)")
    unknown = sorted(set(sec) - allowed)
    if unknown:
        raise UserInputError(f"{source}: config.json {name}.{unknown[0]} is not a LeWM setting we can map")
    for k, v in sec.items():
        if isinstance(v, str) and "${" in v:
            raise UserInputError(f"{source}: config.json {name}.{k} is an unresolved interpolation {v!r}; save "
                                 f"the config resolved (OmegaConf.to_container(cfg, resolve=True))")
    return sec


def _int(sec: dict, key: str, name: str, source: str, default=None) -> int:
    v = sec.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise UserInputError(f"{source}: config.json {name}.{key} must be an integer, got {v!r}")
    return v


def config_from_theirs(d: dict, frameskip: int, source: str = "config.json") -> dict:
    """Their ``config.json`` (a dict) -> our LeWMConfig architecture fields (plus ``lewm_plan`` extras if present).

    ``frameskip`` splits the action encoder's input (``frameskip * action_dim`` entries) into our two fields.

    Raises:
        UserInputError: a missing section, an unknown or unresolved setting, or sizes our LeWM cannot hold.
    """
    if not isinstance(d, dict):
        raise UserInputError(f"{source}: config.json must hold a JSON object, got {type(d).__name__}")
    enc = _section(d, "encoder", _ENCODER_KEYS, source)
    pred = _section(d, "predictor", _PREDICTOR_KEYS, source)
    act = _section(d, "action_encoder", _EMBEDDER_KEYS, source)
    proj = _section(d, "projector", _MLP_KEYS, source)
    pproj = _section(d, "pred_proj", _MLP_KEYS, source)
    size = enc.get("size", "tiny")
    if size not in VIT_SIZES:
        raise UserInputError(f"{source}: config.json encoder.size {size!r} is not a ViT size "
                             f"({', '.join(VIT_SIZES)})")
    width, depth, heads = VIT_SIZES[size]
    width = _int(enc, "hidden_size", "encoder", source, width)
    depth = _int(enc, "num_hidden_layers", "encoder", source, depth)
    heads = _int(enc, "num_attention_heads", "encoder", source, heads)
    mlp = _int(enc, "intermediate_size", "encoder", source, 4 * width)
    embed = _int(proj, "output_dim", "projector", source, proj.get("input_dim"))
    dims = {"projector.input_dim": (_int(proj, "input_dim", "projector", source), width),
            "pred_proj.input_dim": (_int(pproj, "input_dim", "pred_proj", source), embed),
            "pred_proj.output_dim": (_int(pproj, "output_dim", "pred_proj", source, pproj.get("input_dim")), embed),
            "pred_proj.hidden_dim": (_int(pproj, "hidden_dim", "pred_proj", source),
                                     _int(proj, "hidden_dim", "projector", source)),
            "predictor.input_dim": (_int(pred, "input_dim", "predictor", source), embed),
            "predictor.hidden_dim": (_int(pred, "hidden_dim", "predictor", source), embed),
            "predictor.output_dim": (_int(pred, "output_dim", "predictor", source, pred.get("input_dim")), embed),
            "action_encoder.emb_dim": (_int(act, "emb_dim", "action_encoder", source, 10), embed)}
    for name, (got, want) in dims.items():
        if got != want:
            raise UserInputError(f"{source}: config.json {name} is {got}, our LeWM needs {want} (one latent width "
                                 f"through projector, predictor and action encoder)")
    for name, sec in (("projector", proj), ("pred_proj", pproj)):
        norm = sec.get("norm_fn")
        target = norm.get("_target_", "") if isinstance(norm, dict) else str(norm or "torch.nn.BatchNorm1d")
        if not target.endswith("BatchNorm1d"):
            raise UserInputError(f"{source}: config.json {name}.norm_fn is {target!r}; LeWM's projectors use "
                                 f"BatchNorm1d, the only kind we hold")
    block = _int(act, "input_dim", "action_encoder", source, 10)
    if frameskip < 1 or block % frameskip:
        raise UserInputError(f"{source}: the action encoder takes {block} values, not a multiple of frameskip "
                             f"{frameskip}; pass the frameskip the model was trained with (--frameskip)")
    fields = dict(
        encoder="vit", image_size=_int(enc, "image_size", "encoder", source, 224),
        patch_size=_int(enc, "patch_size", "encoder", source, 16), enc_width=width, enc_depth=depth,
        enc_heads=heads, enc_mlp_ratio=mlp / width, embed_dim=embed,
        proj_hidden=_int(proj, "hidden_dim", "projector", source),
        history_size=_int(pred, "num_frames", "predictor", source), pred_depth=_int(pred, "depth", "predictor", source),
        pred_heads=_int(pred, "heads", "predictor", source),
        pred_dim_head=_int(pred, "dim_head", "predictor", source, 64),
        pred_mlp_dim=_int(pred, "mlp_dim", "predictor", source), pred_dropout=float(pred.get("dropout", 0.0)),
        action_smoothed_dim=_int(act, "smoothed_dim", "action_encoder", source, 10),
        action_mlp_scale=_int(act, "mlp_scale", "action_encoder", source, 4),
        frameskip=frameskip, action_dim=block // frameskip,
    )
    extras = d.get(OUR_EXTRAS_KEY)
    if isinstance(extras, dict):
        fields.update({k: v for k, v in extras.items() if k in _EXTRA_FIELDS})
    return fields


def config_from_weights(ours: dict, frameskip: int, source: str = "checkpoint") -> dict:
    """Our LeWMConfig architecture fields read off our-layout weights, for a state dict with no config.json.

    Shapes give every size but the head counts: the ViT's follow its width (``VIT_SIZES``), the predictor's
    assume le-wm's 64-wide heads.
    """
    try:
        pos = ours["encoder.pos_embed"]
        patch = ours["encoder.patch_embed.weight"]
        qkv = ours["predictor.blocks.0.attn.to_qkv.weight"]
        act = ours["action_encoder.patch_embed.weight"]
    except KeyError as e:
        raise UserInputError(f"{source}: no config.json beside it and no {e.args[0]} weight to read the "
                             f"architecture from; put the run's config.json beside the weights") from None
    width, p = int(patch.shape[0]), int(patch.shape[-1])
    heads = {w: h for w, _, h in VIT_SIZES.values()}.get(width)
    if heads is None:
        raise UserInputError(f"{source}: ViT width {width} is not a known size and no config.json says its heads; "
                             f"put the run's config.json beside the weights")
    side = round((int(pos.shape[1]) - 1) ** 0.5)
    inner = int(qkv.shape[0]) // 3
    if inner % PAPER_PRED_DIM_HEAD:
        raise UserInputError(f"{source}: predictor width {inner} is not a multiple of 64 and no config.json says "
                             f"its heads; put the run's config.json beside the weights")
    block = int(act.shape[1])
    if block % frameskip:
        raise UserInputError(f"{source}: the action encoder takes {block} values, not a multiple of frameskip "
                             f"{frameskip}; pass the frameskip the model was trained with (--frameskip)")

    def count(prefix: str) -> int:
        return len({k[len(prefix):].split(".")[0] for k in ours if k.startswith(prefix)})

    embed = int(ours["projector.net.3.weight"].shape[0])
    return dict(
        encoder="vit", image_size=side * p, patch_size=p, enc_width=width, enc_depth=count("encoder.blocks."),
        enc_heads=heads, enc_mlp_ratio=int(ours["encoder.blocks.0.mlp.0.weight"].shape[0]) / width,
        embed_dim=embed, proj_hidden=int(ours["projector.net.0.weight"].shape[0]),
        history_size=int(ours["predictor.pos_embedding"].shape[1]), pred_depth=count("predictor.blocks."),
        pred_heads=inner // PAPER_PRED_DIM_HEAD, pred_dim_head=PAPER_PRED_DIM_HEAD,
        pred_mlp_dim=int(ours["predictor.blocks.0.mlp.net.1.weight"].shape[0]),
        action_smoothed_dim=int(act.shape[0]),
        action_mlp_scale=int(ours["action_encoder.embed.0.weight"].shape[0]) // embed,
        frameskip=frameskip, action_dim=block // frameskip,
    )


def config_to_theirs(cfg) -> dict:
    """Our LeWMConfig -> their ``config.json`` dict (Hydra ``_target_`` entries for stable-worldmodel's loader).

    The encoder entry is stable-pretraining's ``vit_hf`` (what le-wm trains and its ``load_weights.py`` reads);
    our task facts ride along under ``lewm_plan`` (their LeWM takes and ignores extra arguments).

    Raises:
        UserInputError: the model's encoder is not the ViT (their code has no other).
    """
    if cfg.encoder != "vit":
        raise UserInputError(f"export needs a ViT model (encoder: vit); this one's encoder is {cfg.encoder!r}, "
                             f"which le-wm / stable-worldmodel do not have")
    mlp = int(cfg.enc_width * cfg.enc_mlp_ratio)
    size = next((n for n, s in VIT_SIZES.items() if s == (cfg.enc_width, cfg.enc_depth, cfg.enc_heads)), None)
    encoder = {"_target_": "stable_pretraining.backbone.utils.vit_hf", "size": size or "tiny",
               "patch_size": cfg.patch_size, "image_size": cfg.image_size, "pretrained": False,
               "use_mask_token": False}
    if size is None:
        encoder.update(hidden_size=cfg.enc_width, num_hidden_layers=cfg.enc_depth,
                       num_attention_heads=cfg.enc_heads)
    if mlp != 4 * cfg.enc_width:
        encoder["intermediate_size"] = mlp
    d = cfg.embed_dim
    module = "stable_worldmodel.wm.lewm.module"

    def mlp_entry(in_dim: int) -> dict:
        return {"_target_": f"{module}.MLP", "input_dim": in_dim, "output_dim": d, "hidden_dim": cfg.proj_hidden,
                "norm_fn": {"_target_": "torch.nn.BatchNorm1d", "_partial_": True}}

    return {
        "_target_": "stable_worldmodel.wm.lewm.LeWM",
        "embed_dim": d, "history_size": cfg.history_size,
        "encoder": encoder,
        "predictor": {"_target_": f"{module}.Predictor", "num_frames": cfg.history_size, "input_dim": d,
                      "hidden_dim": d, "output_dim": d, "depth": cfg.pred_depth, "heads": cfg.pred_heads,
                      "mlp_dim": cfg.pred_mlp_dim, "dim_head": cfg.pred_dim_head, "dropout": cfg.pred_dropout,
                      "emb_dropout": 0.0},
        "action_encoder": {"_target_": f"{module}.Embedder", "input_dim": cfg.action_block_dim,
                           "smoothed_dim": cfg.action_smoothed_dim, "emb_dim": d, "mlp_scale": cfg.action_mlp_scale},
        "projector": mlp_entry(cfg.enc_width),
        "pred_proj": mlp_entry(d),
        OUR_EXTRAS_KEY: {k: getattr(cfg, k) for k in _EXTRA_FIELDS},
    }
