"""edgefmr: deploy integer transformer models on microcontrollers and FPGAs."""

__version__ = "0.1.0"
