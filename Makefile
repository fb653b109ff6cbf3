# The two commands of the README: `make demo` (the main job: set up if needed, then pretrain
# a small BERT end to end) and `make test` (set up if needed, then run the suite).
PY := .venv/bin/python

.PHONY: setup test demo bench

setup:
	scripts/setup.sh

test: setup
	$(PY) -m pytest tests -q --durations=20

demo: setup
	scripts/demo.sh

bench: setup
	$(PY) bench/bench_model.py
