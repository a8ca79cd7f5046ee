"""Example HIL suite: the fixture models on every board the edgefmr plugin selects, e.g.
`pytest examples/hil --edgefmr-inventory examples/hil/boards.toml`."""

from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"
MODELS = ["cnn_digits_int8.tflite", "vit_digits_int8.tflite"]
LATENCY_MS = {"cnn_digits_int8.tflite": 50, "vit_digits_int8.tflite": 250}   # budgets on the slowest board


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return np.load(FIXTURES / "digits_test_x.npy")[:4]


@pytest.mark.parametrize("model", MODELS)
def test_bit_exact(edgefmr_board, model, digits):
    edgefmr_board.assert_bit_exact(FIXTURES / model, digits)


@pytest.mark.parametrize("model", MODELS)
def test_budgets(edgefmr_board, model, digits):
    report = edgefmr_board.profile(FIXTURES / model, digits[:2])
    assert report.latency_ms <= LATENCY_MS[model]
    assert report.stack_bytes <= 8192
    assert report.arena_bytes > 0
