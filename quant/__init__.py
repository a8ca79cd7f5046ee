"""Quantization: quantizers, integer attention variants, lowering PyTorch models to the IR."""
