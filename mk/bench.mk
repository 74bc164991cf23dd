# Benchmarks (issue 5): CPU per record against Powertools and the json.loads floor, AWS API
# calls against moto, cold imports, zip size. Prints a table with the targets and writes
# build/bench.json. Powertools is installed here, for the benchmark only.
#   make bench    run the benchmarks (table on stdout, figures in build/bench.json)
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_ARGS ?=

.PHONY: bench

$(BENCH_STAMP): requirements-bench.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	@touch $@

bench: $(BENCH_STAMP) package
	$(PY) -m bench --out $(BUILD)/bench.json --markdown $(BUILD)/bench.md $(BENCH_ARGS)
