# The two commands of the README: `make demo` (the main job: set up if needed, then pretrain
# a small BERT end to end) and `make test` (set up if needed, then run the suite).
PY := .venv/bin/python
# The suite runs in two pytest-xdist workers, each taking whole test files (so a module's
# fixtures are built once): much of a test is one-threaded (imports, tracing, compiling,
# subprocess start-up), and two workers took 26 min where one process took 44 on the same
# 2-core machine (docs/benchmarks.md). TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2

.PHONY: setup test demo bench

setup:
	scripts/setup.sh

test: setup
	$(PY) -m pytest tests -q -n $(TEST_WORKERS) --dist loadfile --durations=20

demo: setup
	scripts/demo.sh

bench: setup
	$(PY) bench/bench_model.py
