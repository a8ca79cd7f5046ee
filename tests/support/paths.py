"""Where the tests find the repository and its fixtures."""

from pathlib import Path

#: The repository's root folder.
ROOT = Path(__file__).resolve().parents[2]
#: tests/fixtures: the .tflite models made by TensorFlow's converter and their sample inputs.
FIXTURES = ROOT / "tests" / "fixtures"
