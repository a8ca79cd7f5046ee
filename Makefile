# The two commands of the README: `make demo` and `make test`. Both set everything up first.
.PHONY: setup demo test lint bench clean

VENV := .venv/bin

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup lint
	$(VENV)/pytest -n 2 -q

lint: setup
	$(VENV)/ruff check .
	$(VENV)/python scripts/lint_imports.py

bench: setup
	$(VENV)/python -m bench

clean:
	rm -rf .venv build *.egg-info .pytest_cache
