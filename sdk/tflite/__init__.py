"""`.tflite` import and export."""

from edgefmr.tflite.reader import from_tflite, load_tflite
from edgefmr.tflite.writer import save_tflite, to_tflite

__all__ = ["from_tflite", "load_tflite", "save_tflite", "to_tflite"]
