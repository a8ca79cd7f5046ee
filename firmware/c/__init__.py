"""The C backend: runtime, kernels (portable and Cortex-M), per-op emitters and the code generator."""
