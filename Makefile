# The two commands of the README: `make demo` (the main job: set up if needed, then pretrain
# a small BERT end to end) and `make test` (set up if needed, then run the suite).
PY := .venv/bin/python
# pytest-xdist workers for `make test`, each taking whole test files (README, Tests: why,
# and what it gained); TEST_WORKERS=0 runs the suite in this process.
TEST_WORKERS ?= 2

.PHONY: setup test demo bench

setup:
	scripts/setup.sh

test: setup
	@case "$(TEST_WORKERS)" in auto|logical) ;; ''|*[!0-9]*) echo "TEST_WORKERS=$(TEST_WORKERS): give a" \
	  "number of test worker processes (0 runs the suite in one process), or auto" >&2; exit 2;; esac
	$(PY) -m pytest tests -q -n $(TEST_WORKERS) --dist loadfile --durations=20

demo: setup
	scripts/demo.sh

bench: setup
	$(PY) bench/bench_model.py
