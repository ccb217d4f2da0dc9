"""LeWM configuration: architecture, data facts, action normalisation and training hyper-parameters.

One flat dataclass, stored as YAML beside every checkpoint (``config.yaml``). Presets live in
``experiments/configs/`` and are mirrored here so ``LeWMConfig.preset`` works from an installed package.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from common.cli_errors import UserInputError


class ConfigError(UserInputError):
    """A configuration the user wrote is invalid (unknown key, bad value, unreadable file)."""


@dataclass
class LeWMConfig:
    """Everything needed to rebuild a LeWM and to train it.

    The defaults are the ``cpu`` preset. Attributes are grouped as: task/data facts, encoder,
    latent/projector, predictor, action encoder,
    SIGReg, training. Image size is in pixels, ``frameskip`` in env steps per action block, ``action_dim``
    is the raw per-step action dimension ``A`` (an action block has ``frameskip * A`` entries).
    """

    # --- task and data facts (written by lewm-train from the dataset) ---
    task: str = ""
    data_path: str = ""
    image_size: int = 64
    frameskip: int = 5
    action_dim: int = 2
    action_mean: Optional[list] = None  # (A,) raw-action mean over the training episodes
    action_std: Optional[list] = None  # (A,) raw-action std over the training episodes
    # qpos indices that are angles (the probe predicts their cos/sin, the rest as is): lewm-train takes them from
    # the dataset's ``angle_qpos`` attribute (the env declares them: reacher [0, 1], pointmass/tworoom []).
    # None (a dataset that does not say) = every qpos entry is an angle, the reacher default of old checkpoints.
    angle_qpos: Optional[list] = None
    # A user's gymnasium env (a task that is not one of ours): its gym.make kwargs and its action box in the env's
    # units (None: our tasks' [-1, 1]), written by lewm-train from the dataset; ``env_import`` is the module the user
    # named with ``lewm-train --import``, a hint only: loading a checkpoint never imports it.
    env_kwargs: Optional[dict] = None
    env_import: str = ""
    # What the training images looked like, as the task's env names it (``envs.task_look``; the cube: "shadowed");
    # "" for data collected before looks were recorded. A model plans only in an env that draws its look.
    look: str = ""
    action_low: Optional[list] = None  # (A,)
    action_high: Optional[list] = None  # (A,)

    # --- encoder ---
    encoder: str = "cnn"  # a name in world_model.model.encoders.ENCODERS: "cnn" (default), "vit", "keypoints"
    patch_size: int = 14
    enc_width: int = 192
    enc_depth: int = 12
    enc_heads: int = 3
    enc_mlp_ratio: float = 4.0
    cnn_channels: list = field(default_factory=lambda: [16, 32, 64, 128])
    keypoint_trunk: list = field(default_factory=lambda: [16, 32, 32, 64])  # "keypoints": 2 strided, then 3x3
    keypoints: int = 32
    keypoint_temperature: float = 1.0  # "keypoints": the spatial softmax's starting temperature (then learned)
    keypoint_moments: bool = False  # "keypoints": also each map's variances and covariance (which way a part lies)

    # --- latent and projectors ---
    embed_dim: int = 192
    proj_hidden: int = 2048

    # --- predictor ---
    history_size: int = 3
    num_preds: int = 1  # frames predicted per window: the first teacher-forced, the rest from fed-back predictions
    pred_depth: int = 4
    pred_heads: int = 4
    pred_dim_head: int = 48
    pred_mlp_dim: int = 768
    pred_dropout: float = 0.1

    # --- action encoder ---
    action_smoothed_dim: int = 10
    action_mlp_scale: int = 4

    # --- SIGReg ---
    sigreg_lambda: float = 0.1
    sigreg_projections: int = 1024
    sigreg_knots: int = 17
    # Optional pixel reconstruction from the embedding (world_model/model/decoder.py; its stages follow cnn_channels,
    # whatever the encoder); 0: off (LeWM).
    recon_lambda: float = 0.0
    # Extra weight of the reconstruction error on pixels that differ from the batch's median frame (the moving
    # objects): 0 is plain MSE. Small objects on a plain table otherwise come back as blurred blobs.
    recon_focus: float = 0.0
    # Which decoder redraws the frame: "pixel" (transposed CNN from a 4x4 grid), "keypoints" (the embedding
    # mapped linearly to recon_keypoints points, drawn as bumps and painted by a small CNN; keypoint_decoder.py) or
    # "image_keypoints" (the keypoint encoder's own points drawn, and read linearly back off the embedding).
    decoder: str = "pixel"
    recon_keypoints: int = 32
    # Optional linear readout of the collected state (qpos; angles as cos, sin) from each embedding, trained with
    # this weight (world_model/model/state_head.py): training uses the state, planning never does. 0: off (LeWM).
    state_lambda: float = 0.0
    # Weight of the same readout's error on the *predicted* embeddings (the readout held fixed): the predictor must
    # get the recorded state right, not only the latent on average, where the state takes a small share of it.
    # Needs state_lambda > 0. 0: off.
    state_pred_lambda: float = 0.0
    # Random-shift augmentation while training (DrQ / HIQL's random crop): each training clip is padded by this
    # many pixels (edge pixels repeated) and cropped back at one random offset for all its frames. 0: off.
    random_shift: int = 0
    state_mean: Optional[list] = None  # (K,) readout-target mean over the training episodes (written by lewm-train)
    state_std: Optional[list] = None  # (K,) their std

    # --- training ---
    lr: float = 5e-4
    weight_decay: float = 1e-3
    batch_size: int = 64
    steps: int = 4000
    warmup_fraction: float = 0.03
    min_lr_fraction: float = 0.0
    grad_clip: float = 1.0
    precision: str = "auto"  # "auto" (bf16 on CUDA and on CPUs where it is measured faster), "bf16", "fp32"
    seed: int = 3072
    val_fraction: float = 0.1
    split_seed: int = 0
    eval_every: int = 250
    eval_batches: int = 4
    log_every: int = 10
    checkpoint_every: int = 500
    collapse_rank_threshold: float = 8.0
    # SIGReg pulls each embedding dimension towards std 1; a mean std below this is scale collapse, which the
    # effective rank cannot see (a shrunken cloud of noise still has a high rank; see the lambda=0 ablation).
    collapse_std_threshold: float = 0.1
    num_workers: int = 0

    # --- integrity ---
    # SHA-256 of the checkpoint's model.safetensors, written into config.yaml by ``save_checkpoint`` and checked by
    # ``load_checkpoint``; None in memory and in configs that are not beside weights (presets, experiment configs).
    weights_sha256: Optional[str] = None

    # ------------------------------------------------------------------ derived
    @property
    def num_steps(self) -> int:
        """Frames per training window (history + predicted)."""
        return self.history_size + self.num_preds

    @property
    def action_block_dim(self) -> int:
        """Entries of one action block: ``frameskip * action_dim``."""
        return self.frameskip * self.action_dim

    # ------------------------------------------------------------------ I/O
    def validate(self) -> "LeWMConfig":
        """Checks values; raises ConfigError naming the first bad field. Returns self."""
        from world_model.model.encoders import encoder_problem  # the encoders import torch; a config alone does not

        problem = encoder_problem(self)
        if problem:
            raise ConfigError(problem)
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"precision must be 'auto', 'bf16' or 'fp32', got {self.precision!r}")
        if self.decoder not in ("pixel", "keypoints", "image_keypoints"):
            raise ConfigError(f"decoder must be 'pixel', 'keypoints' or 'image_keypoints', got {self.decoder!r}")
        if self.decoder == "image_keypoints" and self.encoder != "keypoints":
            raise ConfigError("decoder 'image_keypoints' draws the keypoint encoder's points: set encoder: keypoints")
        self._check_ranges()
        if self.angle_qpos is not None and any(
                isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in self.angle_qpos):
            raise ConfigError(f"angle_qpos must list qpos indices (integers >= 0), got {self.angle_qpos!r}")
        if self.env_kwargs is not None and not isinstance(self.env_kwargs, dict):
            raise ConfigError(f"env_kwargs must be a mapping of gym.make keyword arguments, got {self.env_kwargs!r}")
        for name in ("action_mean", "action_std", "action_low", "action_high"):
            v = getattr(self, name)
            if v is not None and len(v) != self.action_dim:
                raise ConfigError(f"{name} has {len(v)} entries but action_dim is {self.action_dim}")
        if (self.state_mean is None) != (self.state_std is None) or (
                self.state_mean is not None and len(self.state_mean) != len(self.state_std)):
            raise ConfigError("state_mean and state_std must both be set, with one entry per readout target")
        if self.state_pred_lambda > 0 and not self.state_lambda > 0:
            raise ConfigError("state_pred_lambda reads predictions through the state readout: set state_lambda > 0")
        if self.weights_sha256 is not None and not _is_sha256(self.weights_sha256):
            raise ConfigError(f"weights_sha256 must be 64 hex digits, got {self.weights_sha256!r}")
        return self

    def _check_ranges(self) -> None:
        """Numeric ranges: counts at least 1, rates and fractions in their intervals (ConfigError naming one)."""
        for name in _AT_LEAST_ONE:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in _AT_LEAST_ZERO:
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be at least 0, got {getattr(self, name)}")
        for name, closed in _FRACTIONS:
            v = getattr(self, name)
            if not (0 <= v and (v <= 1 if closed else v < 1)):
                raise ConfigError(f"{name} must be in [0, 1{']' if closed else ')'}, got {v}")
        for name in ("lr", "grad_clip", "keypoint_temperature"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be greater than 0, got {getattr(self, name)}")
        if self.sigreg_knots < 2:
            raise ConfigError(f"sigreg_knots must be at least 2, got {self.sigreg_knots}")
        if not 0 <= int(self.random_shift) <= self.image_size // 4:
            raise ConfigError(f"random_shift must be in [0, image_size / 4 = {self.image_size // 4}] pixels, got "
                              f"{self.random_shift}")
        self._check_statistics()

    def _check_statistics(self) -> None:
        """Normalisation statistics and action boxes: finite numbers, stds above 0, low below high (ConfigError
        naming the field): a std of 0 or inf turns every action into NaN or 0."""
        for name in ("action_mean", "action_std", "action_low", "action_high", "state_mean", "state_std"):
            values = getattr(self, name)
            if values is None:
                continue
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
                raise ConfigError(f"{name} must hold finite numbers, got {values!r}")
            if name.endswith("_std") and not all(v > 0 for v in values):
                raise ConfigError(f"{name} must be greater than 0 in every entry, got {values!r}")
        if self.action_low is not None and self.action_high is not None and \
                not all(lo < hi for lo, hi in zip(self.action_low, self.action_high)):
            raise ConfigError(f"action_low must be below action_high in every entry, got {self.action_low!r} and "
                              f"{self.action_high!r}")

    def to_dict(self) -> dict:
        """Plain dict of all fields (YAML/JSON serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LeWMConfig":
        """Builds a config from a dict; unknown keys raise ConfigError naming them.

        A ``preset: NAME`` entry starts from that preset; the other entries override it.
        """
        if not isinstance(d, dict):
            raise ConfigError(f"config must be a mapping, got {type(d).__name__}")
        if "preset" in d:
            d = dict(d)
            name = d.pop("preset")
            if name not in PRESETS:
                raise ConfigError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
            d = {**PRESETS[name], **d}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)}; {_key_hint(unknown[0], known)}")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in d:
                kwargs[f.name] = _coerce(f.name, f.type, d[f.name])
        return cls(**kwargs).validate()

    @classmethod
    def from_yaml(cls, path) -> "LeWMConfig":
        """Reads a YAML config file. Raises FileNotFoundError / ConfigError with one clear line."""
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"config {path} is a folder; pass a YAML file (see experiments/configs/)")
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}; check the path (presets: experiments/configs/)")
        try:
            d = yaml.safe_load(path.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot parse {path} as YAML ({str(e).splitlines()[0]}); fix or replace the file") \
                from None
        if not isinstance(d, dict):
            raise ConfigError(f"config {path} must be a YAML mapping of key: value, got a {type(d).__name__}")
        try:
            return cls.from_dict(d)
        except ConfigError as e:
            raise ConfigError(f"config {path}: {e}") from None

    def to_yaml(self, path) -> None:
        """Writes this config as YAML (atomically: temp file then rename)."""
        from common.io_utils import atomic_write_text

        atomic_write_text(Path(path), yaml.safe_dump(self.to_dict(), sort_keys=False))

    def replace(self, **changes) -> "LeWMConfig":
        """Returns a validated copy with some fields changed."""
        return dataclasses.replace(self, **changes).validate()

    @classmethod
    def preset(cls, name: str) -> "LeWMConfig":
        """Returns a named preset: ``"paper"`` (the LeWM paper exactly) or ``"cpu"`` (the shipped default)."""
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        return cls.from_dict(PRESETS[name])


_AT_LEAST_ONE = ("image_size", "frameskip", "action_dim", "embed_dim", "history_size", "num_preds", "batch_size",
                 "steps", "eval_every", "eval_batches", "log_every", "checkpoint_every", "sigreg_projections",
                 "keypoints", "recon_keypoints")
_AT_LEAST_ZERO = ("weight_decay", "sigreg_lambda", "recon_lambda", "recon_focus", "state_lambda",
                  "state_pred_lambda", "num_workers")
_FRACTIONS = (("val_fraction", False), ("warmup_fraction", False), ("min_lr_fraction", True),
              ("pred_dropout", False))  # (field, 1 included)


def _key_hint(key: str, known: set) -> str:
    """'did you mean X?' for a near miss, else where the valid keys are listed."""
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1)
    if close:
        return f"did you mean {close[0]}?"
    return "the valid keys are the fields of LeWMConfig (world_model/model/config.py)"


def _is_sha256(value) -> bool:
    """True for a 64-character lowercase/uppercase hex string."""
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)


def _coerce(name: str, type_name: str, value):
    """Checks/converts a YAML value for a field annotated ``type_name`` ("int", "float", "str", ...)."""
    if type_name in ("int", "float") and isinstance(value, str):
        # YAML 1.1 reads 2e-4 (no dot) as a string: a number written so is still a number.
        try:
            value = float(value)
        except ValueError:
            pass
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or float(value) != int(value):
            raise ConfigError(f"config key {name} must be an integer, got {value!r}")
        return int(value)
    if type_name == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"config key {name} must be a finite number, got {value!r}")
        return float(value)
    if type_name == "bool" and not isinstance(value, bool):
        raise ConfigError(f"config key {name} must be true or false, got {value!r}")
    if type_name == "str" and not isinstance(value, str):
        raise ConfigError(f"config key {name} must be a string, got {value!r}")
    if type_name.endswith("list]") or type_name == "list":
        if value is not None and not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {name} must be a list, got {value!r}")
        return None if value is None else list(value)
    return value


# Mirrors experiments/configs/{paper,cpu}.yaml (a test checks that they agree).
PRESETS: dict[str, dict] = {
    "paper": dict(
        image_size=224, frameskip=5, encoder="vit", patch_size=14, enc_width=192, enc_depth=12, enc_heads=3,
        enc_mlp_ratio=4.0, embed_dim=192, proj_hidden=2048, history_size=3, num_preds=1, pred_depth=6,
        pred_heads=16, pred_dim_head=64, pred_mlp_dim=2048, pred_dropout=0.1, action_smoothed_dim=10,
        action_mlp_scale=4, sigreg_lambda=0.09, sigreg_projections=1024, sigreg_knots=17, lr=5e-5,
        weight_decay=1e-3, batch_size=128, grad_clip=1.0, precision="auto", seed=3072,
    ),
    "cpu": dict(
        image_size=64, frameskip=5, encoder="cnn", cnn_channels=[16, 32, 64, 128], embed_dim=192,
        proj_hidden=2048, history_size=3, num_preds=1, pred_depth=4, pred_heads=4, pred_dim_head=48,
        pred_mlp_dim=768, pred_dropout=0.1, action_smoothed_dim=10, action_mlp_scale=4, sigreg_lambda=0.1,
        sigreg_projections=1024, sigreg_knots=17, lr=5e-4, weight_decay=1e-3, batch_size=64, steps=4000,
        warmup_fraction=0.03, grad_clip=1.0, precision="auto", seed=3072,
    ),
}
