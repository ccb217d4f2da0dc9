"""The LeWM network: config, encoders (CNN, ViT, keypoints), projector, action encoder, predictor, decoders, SIGReg,
the optional state readout, and the checkpoint files (safetensors + config.yaml)."""
