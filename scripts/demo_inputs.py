"""Write the digits test split as integer inputs of MODEL (quantized with its input scale) and the labels."""

import sys

import numpy as np

from edgefmr.ir.model_io import load_model, prepare_input
from edgefmr.nas.tasks import load_task

model, x_out, y_out = sys.argv[1:4]
g = load_model(model)
task = load_task("digits")
x = task.x_test.numpy() if hasattr(task.x_test, "numpy") else np.asarray(task.x_test)
y = task.y_test.numpy() if hasattr(task.y_test, "numpy") else np.asarray(task.y_test)
xq, _ = prepare_input(g, x.astype(np.float32), "digits test split")
np.save(x_out, xq)
np.save(y_out, y.astype(np.int64))
print(f"{len(xq)} test inputs -> {x_out}")
