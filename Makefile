# The two commands of the README: `make test` (sets up if needed, then runs the suite) and
# the main job (`make demo`, arriving with the pretraining runner).
PY := .venv/bin/python

.PHONY: setup test bench

setup:
	scripts/setup.sh

test: setup
	$(PY) -m pytest tests -q

bench: setup
	$(PY) bench/bench_model.py
