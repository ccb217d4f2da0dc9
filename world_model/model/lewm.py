"""LeWM: encoder + projector, action encoder, causal AdaLN-zero predictor + prediction projector, SIGReg."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from world_model.model.action_encoder import ActionEncoder
from world_model.model.augment import random_shift
from world_model.model.config import LeWMConfig
from world_model.model.encoders import build_encoder
from world_model.model.predictor import Predictor
from world_model.model.projector import Projector
from world_model.model.decoder import build_decoder, decoder_terms
from common.cpu_threads import planning_threads, split_workers
from world_model.model.sigreg import SIGReg
from world_model.rollout.compiled_rollout import compiled
from world_model.model.state_head import StateHead


class LeWM(nn.Module):
    """LeWorldModel: a JEPA trained end-to-end from pixels with a prediction loss and SIGReg.

    Latents have ``D = cfg.embed_dim`` entries. Actions passed to ``predict``/``rollout``/``loss`` are
    action blocks of ``cfg.action_block_dim = frameskip * action_dim`` entries, z-scored with the dataset
    statistics in ``cfg.action_mean`` / ``cfg.action_std`` (see ``normalize_actions``).

    Args:
        cfg: architecture and training configuration.
    """

    def __init__(self, cfg: LeWMConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.checkpoint_sha256 = None  # the weights file's SHA-256 once loaded from a checkpoint (LeWM.load)
        d = cfg.embed_dim
        self.encoder = build_encoder(cfg)
        self.projector = Projector(self.encoder.out_dim, cfg.proj_hidden, d)
        self.action_encoder = ActionEncoder(cfg.action_block_dim, cfg.action_smoothed_dim, d, cfg.action_mlp_scale)
        self.predictor = Predictor(d, cfg.history_size, cfg.pred_depth, cfg.pred_heads, cfg.pred_dim_head,
                                   cfg.pred_mlp_dim, cfg.pred_dropout)
        self.pred_proj = Projector(d, cfg.proj_hidden, d)
        self.sigreg = SIGReg(cfg.sigreg_projections, cfg.sigreg_knots)
        self.decoder = build_decoder(cfg) if cfg.recon_lambda > 0 else None
        self.state_head = None
        if cfg.state_lambda > 0 and cfg.state_mean is not None:  # lewm-train writes the statistics before building
            self.state_head = StateHead(d, cfg.state_mean, cfg.state_std, cfg.angle_qpos)
        # Inference (eval mode, no autograd) rolls out through world_model.rollout.fast_rollout; False forces the plain
        # path.
        self.use_fast_rollout = True
        self.compile_rollout = False  # True: that path through torch.compile (world_model.rollout.compiled_rollout)
        # False: that path without oneDNN-packed weights (world_model.rollout.packed_linear)
        self.pack_rollout_weights = True
        # On CPU the fast path rolls out at most this many candidates at a time: activations of a few hundred
        # candidates stay in cache, which makes large batches (many envs x 300 samples) ~1.4x faster per env.
        self.rollout_chunk = 1024

    # ------------------------------------------------------------------ encoding
    def _to_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """(..., H, W, 3) or (..., 3, H, W), uint8 or float in [0, 1] -> float (N, 3, S, S) on the model device."""
        s = self.cfg.image_size
        if pixels.shape[-1] == 3 and pixels.shape[-3:-1] == (s, s):
            pixels = pixels.movedim(-1, -3)
        elif pixels.shape[-3:] != (3, s, s):
            raise ValueError(f"expected images of shape (..., {s}, {s}, 3) or (..., 3, {s}, {s}), "
                             f"got {tuple(pixels.shape)}")
        param = next(self.encoder.parameters())
        x = pixels.reshape(-1, 3, s, s).to(param.device)
        if x.dtype == torch.uint8:
            return x.to(param.dtype) / 255.0
        if x.numel() and float(x.max()) > 1.5:
            raise ValueError("float pixels must be in [0, 1] (pass uint8 for 0-255 images)")
        return x.to(param.dtype)

    def encode(self, pixels) -> torch.Tensor:
        """Embeds frames.

        Args:
            pixels: (B, T, H, W, 3) or (B, T, 3, H, W), uint8 in [0, 255] or float in [0, 1]; a 4-D
                (B, H, W, 3) / (B, 3, H, W) batch of single frames is accepted too. H = W = cfg.image_size.

        Returns:
            (B, T, D) embeddings (or (B, D) for 4-D input).
        """
        pixels = torch.as_tensor(pixels)
        if pixels.dim() not in (4, 5):
            raise ValueError(f"expected 4-D or 5-D pixels, got shape {tuple(pixels.shape)}")
        lead = pixels.shape[:-3]
        z = self.projector(self.encoder(self._to_images(pixels)))
        return z.reshape(*lead, -1)

    # ------------------------------------------------------------------ prediction
    def predict(self, z_hist: torch.Tensor, a_hist: torch.Tensor) -> torch.Tensor:
        """Teacher-forced causal prediction.

        Args:
            z_hist: (B, T, D) embeddings of T consecutive frames (T <= history_size).
            a_hist: (B, T, A_block) normalised action block taken at each of those frames.

        Returns:
            (B, T, D): output t predicts the embedding of frame t+1 (it sees frames and actions <= t only).
        """
        h = self.predictor(z_hist, self.action_encoder(a_hist))
        return self.pred_proj(h)

    def rollout(self, z_hist: torch.Tensor, a_hist: Optional[torch.Tensor], plan: torch.Tensor) -> torch.Tensor:
        """Autoregressive open-loop rollout of N candidate plans per batch element.

        All B*N candidates go through one predictor call per step; each step feeds the last ``history_size``
        embeddings. In eval mode without autograd this runs ``world_model.rollout.fast_rollout`` (same result, less
        work, see there); otherwise the plain differentiable ``rollout_reference``.

        Args:
            z_hist: (B, Th, D) embeddings of the Th most recent frames (the last is the current frame).
            a_hist: (B, Th-1, A_block) normalised actions taken between those frames, or None (then the
                history frames are conditioned on the zero action, i.e. the dataset mean).
            plan: (B, N, H, A_block) normalised candidate action blocks; plan[:, :, 0] acts on the current frame.

        Returns:
            (B, N, H, D): entry h is the predicted embedding after executing plan blocks 0..h.
        """
        b, th, d = z_hist.shape
        _, n, horizon, ablk = plan.shape
        if a_hist is None:
            a_hist = z_hist.new_zeros(b, th - 1, ablk)
        if a_hist.shape[:2] != (b, th - 1):
            raise ValueError(f"a_hist must be (B, Th-1, A_block) = ({b}, {th - 1}, {ablk}), got {tuple(a_hist.shape)}")
        bn = b * n
        # Action embeddings once per call: history part per batch element, then broadcast over candidates.
        c_hist = self.action_encoder(a_hist.to(plan.dtype)) if th > 1 else None
        c_plan = self.action_encoder(plan.reshape(bn, horizon, ablk))
        if self.use_fast_rollout and not self.training and not torch.is_grad_enabled():
            device_type = z_hist.device.type
            chunk = self.rollout_chunk if device_type == "cpu" else None
            # Under bf16 autocast the fast path runs natively in bf16 (weights cast once), autocast off.
            bf16 = torch.is_autocast_enabled(device_type) and torch.get_autocast_dtype(device_type) == torch.bfloat16
            dtype = torch.bfloat16 if bf16 else torch.float32
            workers = split_workers(bn, device_type, dtype)
            with torch.autocast(device_type, enabled=False), planning_threads(bn, device_type, workers):
                fast = self._fast_rollout(dtype)
                if self.compile_rollout:
                    return compiled(fast)(z_hist, c_hist, c_plan.reshape(b, n, horizon, -1), chunk, workers)
                return fast.rollout(z_hist, c_hist, c_plan.reshape(b, n, horizon, -1), chunk, workers)
        c = c_plan.new_empty(bn, th - 1 + horizon, c_plan.shape[-1])
        if c_hist is not None:
            c[:, : th - 1] = c_hist.unsqueeze(1).expand(b, n, th - 1, -1).reshape(bn, th - 1, -1)
        c[:, th - 1:] = c_plan
        z_flat = z_hist.unsqueeze(1).expand(b, n, th, d).reshape(bn, th, d)
        return self.rollout_reference(z_flat, c, horizon).reshape(b, n, horizon, d)

    def rollout_reference(self, z_flat: torch.Tensor, c: torch.Tensor, horizon: int) -> torch.Tensor:
        """The plain rollout (differentiable; the reference the fast path is tested against).

        Args:
            z_flat: (BN, Th, D) history embeddings per candidate.
            c: (BN, Th - 1 + horizon, D) action embeddings.
            horizon: steps to predict.

        Returns:
            (BN, horizon, D) predicted embeddings.
        """
        bn, th, d = z_flat.shape
        hist = self.cfg.history_size
        mods = self.predictor.modulations(c)  # once per call: they depend on the actions only
        buf = z_flat.new_empty(bn, th + horizon, d)  # z_hist's dtype: history stays fp32 under autocast
        buf[:, :th] = z_flat
        for step in range(horizon):
            end = th + step
            start = max(0, end - hist)
            h = self.predictor(buf[:, start:end], None, last_only=True,
                               mods=[m[:, start:end] for m in mods])  # (BN, 1, D)
            buf[:, end] = self.pred_proj(h[:, 0])
        return buf[:, th:]

    def _fast_rollout(self, dtype: torch.dtype = torch.float32):
        """The ``FastRollout`` in ``dtype`` for the current weights, rebuilt when any parameter or buffer has
        changed (or another dtype is asked for)."""
        from world_model.rollout.fast_rollout import FastRollout

        tensors = list(self.predictor.parameters()) + list(self.pred_proj.parameters()) + list(self.pred_proj.buffers())
        # Inference tensors (a model loaded under torch.inference_mode) have no version counter.
        key = (dtype, self.pack_rollout_weights) + tuple(
            (t.data_ptr(), -1 if t.is_inference() else t._version, t.dtype, t.device) for t in tensors)
        if getattr(self, "_fast_key", None) != key:
            self._fast, self._fast_key = FastRollout(self, dtype, pack=self.pack_rollout_weights), key
        return self._fast

    # ------------------------------------------------------------------ training
    def loss(self, batch: dict, generator: Optional[torch.Generator] = None, sync: bool = True) -> dict:
        """Teacher-forced prediction loss plus lambda * step-wise SIGReg on the encoder embeddings.

        Args:
            batch: {"pixels": (B, T, H, W, 3) uint8, "action": (B, T, A_block) normalised}, T = num_steps; with
                a state readout (``cfg.state_lambda > 0``) also "qpos": (B, T, nq), the frames' raw states.
            generator: optional RNG for SIGReg's directions.
            sync: under torch.distributed, compute SIGReg over all ranks' embeddings (see ``SIGReg``).

        Returns:
            {"pred": MSE of predicted vs encoded next embeddings, "sigreg": statistic, "total": pred +
            lambda * sigreg (+ recon_lambda * "recon", the decoder's pixel error, when ``cfg.recon_lambda > 0``;
            + "rollout", the open-loop error of frames history+1.. fed the model's own predictions, when
            ``cfg.num_preds > 1``; + state_lambda * "state", the readout's error, with a state head; +
            state_pred_lambda * "state_pred", the fixed readout's error on the predictions, where set)},
            scalar tensors; plus "emb": (B, T, D) embeddings, detached, for diagnostics.
        """
        pixels = torch.as_tensor(batch["pixels"])
        images = self._to_images(pixels)  # (B * T, 3, S, S) in [0, 1]
        if self.training and self.cfg.random_shift:
            images = random_shift(images.reshape(*pixels.shape[:2], *images.shape[1:]),
                                  int(self.cfg.random_shift)).reshape(images.shape)
        image_points = None
        if self.cfg.decoder == "image_keypoints" and self.decoder is not None:
            feats, image_points = self.encoder(images, with_points=True)
        else:
            feats = self.encoder(images)
        z = self.projector(feats).reshape(*pixels.shape[:2], -1)
        actions = torch.as_tensor(batch["action"]).to(z.device)
        n_ctx = self.cfg.history_size
        pred = self.predict(z[:, :n_ctx], actions[:, :n_ctx])
        tgt = z[:, 1: n_ctx + 1]
        pred_loss = (pred.float() - tgt.float()).pow(2).mean()
        sig = self.sigreg(z.transpose(0, 1), generator=generator, sync=sync)
        total = pred_loss + self.cfg.sigreg_lambda * sig
        out = {"pred": pred_loss, "sigreg": sig, "emb": z.detach()}
        if self.cfg.num_preds > 1:
            out["rollout"] = self._open_loop_loss(z, actions, pred[:, -1:])
            total = total + out["rollout"]
        if self.decoder is not None:
            terms = decoder_terms(self.decoder, z.reshape(-1, z.shape[-1]), images, self.cfg.recon_focus,
                                  image_points)
            out.update(terms)
            total = total + self.cfg.recon_lambda * sum(terms.values())
        if self.state_head is not None:
            if "qpos" not in batch:
                raise ValueError("this model has a state readout (state_lambda > 0): its batches need 'qpos'")
            qpos = torch.as_tensor(batch["qpos"])
            out["state"] = self.state_head.loss(z.reshape(-1, z.shape[-1]), qpos.reshape(-1, qpos.shape[-1]))
            total = total + self.cfg.state_lambda * out["state"]
            if self.cfg.state_pred_lambda > 0:
                out["state_pred"] = self.state_head.loss(pred.reshape(-1, pred.shape[-1]),
                                                         qpos[:, 1: n_ctx + 1].reshape(-1, qpos.shape[-1]), fixed=True)
                total = total + self.cfg.state_pred_lambda * out["state_pred"]
        out["total"] = total
        return out

    def _open_loop_loss(self, z: torch.Tensor, actions: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
        """MSE of the predictions of frames history+1 .. T-1 made from the model's own earlier predictions.

        z: (B, T, D) encoded window; actions: (B, T, A_block); first: (B, 1, D), the teacher-forced prediction of
        frame ``history_size``. Gradients flow through the fed-back predictions, as in a planner's rollout.
        """
        n_ctx = self.cfg.history_size
        seq, errors = torch.cat([z[:, :n_ctx], first], dim=1), []
        for k in range(1, self.cfg.num_preds):
            nxt = self.predict(seq[:, k: k + n_ctx], actions[:, k: k + n_ctx])[:, -1:]
            errors.append((nxt.float() - z[:, n_ctx + k: n_ctx + k + 1].float()).pow(2).mean())
            seq = torch.cat([seq, nxt], dim=1)
        return torch.stack(errors).mean()

    def forward(self, batch: dict, generator: Optional[torch.Generator] = None) -> dict:
        """Same as ``loss`` (so DistributedDataParallel can wrap the model)."""
        return self.loss(batch, generator=generator)

    # ------------------------------------------------------------------ actions
    def _action_stats(self, like: torch.Tensor):
        a = self.cfg.action_dim
        mean = np.zeros(a) if self.cfg.action_mean is None else np.asarray(self.cfg.action_mean, dtype=np.float64)
        std = np.ones(a) if self.cfg.action_std is None else np.asarray(self.cfg.action_std, dtype=np.float64)
        reps, rest = divmod(like.shape[-1], a)  # a block, or any whole number of env steps
        if rest:
            raise ValueError(f"actions must have a multiple of {a} values in their last dim, got {like.shape[-1]}")
        mean_t = torch.as_tensor(np.tile(mean, reps), dtype=like.dtype, device=like.device)
        std_t = torch.as_tensor(np.tile(std, reps), dtype=like.dtype, device=like.device)
        return mean_t, std_t

    def normalize_actions(self, raw_blocks):
        """Raw env action blocks (..., frameskip * A) -> z-scored blocks (same shape), per raw action dim.
        Any whole number of env steps (..., k * A) is normalised the same way."""
        x = torch.as_tensor(raw_blocks, dtype=torch.float32) if not torch.is_tensor(raw_blocks) else raw_blocks
        mean, std = self._action_stats(x)
        return (x - mean) / std

    def denormalize_actions(self, norm_blocks):
        """Z-scored action blocks (..., frameskip * A) -> raw env action blocks (same shape)."""
        x = torch.as_tensor(norm_blocks, dtype=torch.float32) if not torch.is_tensor(norm_blocks) else norm_blocks
        mean, std = self._action_stats(x)
        return x * std + mean

    # ------------------------------------------------------------------ checkpoints
    def num_parameters(self) -> dict:
        """Parameter counts per component and in total."""
        parts = {k: sum(p.numel() for p in getattr(self, k).parameters())
                 for k in ("encoder", "projector", "action_encoder", "predictor", "pred_proj")}
        for part in ("decoder", "state_head"):  # training only: planning never runs them
            if getattr(self, part) is not None:
                parts[part] = sum(p.numel() for p in getattr(self, part).parameters())
        parts["total"] = sum(parts.values())
        return parts

    def save(self, path, half: bool = False) -> None:
        """Writes ``path/config.yaml`` and ``path/model.safetensors`` (fp16 weights when ``half``)."""
        from world_model.model.checkpoint import save_checkpoint

        save_checkpoint(self, path, half=half)

    @classmethod
    def load(cls, path, map_location="cpu", trust_unverified: bool = False) -> "LeWM":
        """Loads a checkpoint folder written by ``save``; weights come back as float32, in eval mode.

        ``config.yaml`` must record the weights' SHA-256 and match it; ``trust_unverified`` (for files edited by
        hand) makes a missing or wrong checksum a warning. ``model.checkpoint_sha256`` is the weights' digest.

        Raises:
            FileNotFoundError: the folder or one of its files is missing.
            CheckpointMismatchError (a ValueError): the weights do not fit the config.
        """
        from world_model.model.checkpoint import load_checkpoint

        return load_checkpoint(cls, path, map_location=map_location, trust_unverified=trust_unverified)
