"""``lewm-train``: the training loop, its run folder (log, resumable state, checkpoint), resume and data checks,
pace, diagnostics, the linear probe and multi-process training."""
