"""Fast latent rollouts for planning on a CPU: fused and packed predictor steps, torch.compile, precision by
measurement. Used by ``LeWM.rollout``; nothing here trains."""
