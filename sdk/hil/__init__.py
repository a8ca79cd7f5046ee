"""Hardware-in-the-loop: the runner of a pytest suite on every board of an inventory, and the pytest plugin."""
