"""Every op is findable by its name: definition page, reference kernel, test, and an entry in docs/ops.md."""


import pytest
from paths import ROOT

from edgefmr.ops.registry import all_ops


@pytest.mark.parametrize("name", sorted(all_ops()))
def test_op_has_docs_kernel_and_test(name):
    low = name.lower()
    assert (ROOT / "sdk" / "ops" / f"{low}.py").is_file()
    assert (ROOT / "tests" / "ops" / f"test_{low}.py").is_file()
    page = ROOT / "docs" / "ops" / f"{name}.md"
    assert page.is_file() and page.read_text().startswith(f"# {name}")
    assert f"(ops/{name}.md)" in (ROOT / "docs" / "ops.md").read_text()


def test_issue_op_set_is_complete():
    wanted = ("FULLY_CONNECTED BATCH_MATMUL SOFTMAX ADD SUB MUL MEAN SQUARED_DIFFERENCE RSQRT RESHAPE TRANSPOSE "
              "CONCATENATION STRIDED_SLICE GATHER CONV_2D DEPTHWISE_CONV_2D AVERAGE_POOL_2D MAX_POOL_2D RELU RELU6 "
              "LOGISTIC TANH QUANTIZE DEQUANTIZE").split()
    assert set(wanted) <= set(all_ops())
