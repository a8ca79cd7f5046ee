"""The model families as PyTorch modules (ViT, spiking transformer, LMU), their layers, attention variants, LIF
neurons and MAC counting."""
