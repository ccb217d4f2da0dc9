"""What a training run reports: the JSON-lines log, the progress bar, and plain-words collapse warnings."""
from __future__ import annotations

import json
import logging
import platform
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from common.io_utils import atomic_write_text

log = logging.getLogger("world_model.training.train")
LOG_NAME = "log.jsonl"


class _TqdmHandler(logging.Handler):
    """Logging through ``tqdm.write`` so messages do not break the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record), file=sys.stderr)


def setup_logging(is_main: bool) -> None:
    """INFO to stderr on the main process, warnings only elsewhere (idempotent)."""
    logger = logging.getLogger("world_model")
    if not any(isinstance(h, _TqdmHandler) for h in logger.handlers):
        handler = _TqdmHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO if is_main else logging.WARNING)


class RunLog:
    """Appends JSON records to ``<out>/log.jsonl`` (main process only).

    Args:
        out: run folder.
        enabled: False on non-main ranks (nothing is written).
        resume_step: when resuming, records after this step (written after the last checkpoint) are dropped
            so the log reads as one uninterrupted run.
    """

    def __init__(self, out: Path, enabled: bool = True, resume_step=None):
        self.path = Path(out) / LOG_NAME
        self.enabled = enabled
        self.last_eval: dict = {}
        self._acc: dict = {}
        self._n = 0
        self._t0 = time.perf_counter()
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():
            keep = [ln for ln in self.path.read_text().splitlines()
                    if ln.strip() and json.loads(ln).get("step", 0) <= resume_step]
            atomic_write_text(self.path, "".join(ln + "\n" for ln in keep))
            self.record({"kind": "resume", "step": resume_step})

    def record(self, rec: dict) -> None:
        """Writes one record (with a wall-clock time stamp)."""
        if not self.enabled:
            return
        rec = {**rec, "time": round(time.time(), 2)}
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def write_meta(self, cfg, precision: str, info, n_params: int, init_from=None) -> None:
        """First record of a run: config, machine, precision, parameter count, and the checkpoint it started from."""
        self.record({"kind": "meta", "step": 0, "config": cfg.to_dict(), "precision": precision, "init_from": init_from,
                     "world_size": info.world, "device": str(info.device), "params": n_params,
                     "machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                     "torch": torch.__version__})

    def train(self, step: int, metrics: dict, batch_size: int, every: int) -> None:
        """Accumulates per-step metrics; every ``every`` steps writes their mean and the throughput."""
        for k, v in metrics.items():
            self._acc[k] = self._acc.get(k, 0.0) + v
        self._n += 1
        if step % every:
            return
        now = time.perf_counter()
        rec = {"kind": "train", "step": step, **{k: v / self._n for k, v in self._acc.items()},
               "sec_per_step": (now - self._t0) / self._n, "samples_per_s": batch_size * self._n / (now - self._t0)}
        self.record(rec)
        self._acc, self._n, self._t0 = {}, 0, now

    def eval(self, step: int, metrics: dict, rank_threshold: float, sigreg_lambda: float,
             std_threshold: float = 0.0) -> None:
        """Writes held-out metrics; warns in plain words when the embeddings are collapsing.

        Two kinds of collapse are caught after training has started: dimensional (effective rank below
        ``rank_threshold``) and scale (mean per-dimension std below ``std_threshold``: every frame maps into a
        tiny ball, which keeps the rank high but carries no information).
        """
        if not metrics:
            return
        low_rank = metrics["eff_rank"] < rank_threshold
        shrunk = step > 0 and metrics["std_mean"] < std_threshold
        collapsed = low_rank or shrunk
        self.last_eval = {"step": step, **metrics}
        self.record({"kind": "eval", "step": step, **metrics, "collapse_warning": collapsed})
        log.info("step %d: val pred %.4f (%.3f relative to the embedding variance), val SIGReg %.3f, embedding std "
                 "mean %.3f / min %.3f, effective rank %.1f", step, metrics["val_pred"], metrics["val_pred_rel"],
                 metrics["val_sigreg"], metrics["std_mean"], metrics["std_min"], metrics["eff_rank"])
        if shrunk:
            log.warning(
                "WARNING: the embeddings are collapsing at step %d: their mean std is %.3f, below the threshold "
                "%.3f (collapse_std_threshold). Every frame is being mapped into a tiny ball, so planning with "
                "this model will not work. SIGReg lambda is %g; raise it (the paper uses 0.09-0.1) or check the "
                "data.", step, metrics["std_mean"], std_threshold, sigreg_lambda)
        if low_rank:
            log.warning(
                "WARNING: the embeddings are collapsing at step %d: their effective rank is %.1f, below the "
                "threshold %.1f (collapse_rank_threshold). Different frames are being mapped to nearly the same "
                "point, so planning with this model will not work. SIGReg lambda is %g; raise it (the paper "
                "uses 0.09-0.1) or check the data.", step, metrics["eff_rank"], rank_threshold, sigreg_lambda)

    def progress(self, start: int, total: int, disable: bool) -> tqdm:
        """The training progress bar."""
        return tqdm(total=total, initial=start, disable=disable, desc="lewm-train", dynamic_ncols=True,
                    mininterval=1.0)
