# Soak (issues 6, 17, 18, 21): every processor (examples/complete with a cache) on the local runtime at
# ParallelizationFactor 4, 20,000 changes with faults injected, then every processor's
# accounting; then a fault-free run of 2,000 changes to compare (docs/reliability.md, "Soak").
#   make soak     run it; figures on stdout and in build/soak.json
#                 (SOAK_ARGS="--no-faults", "--seed 2", "--changes 40000 --duration 600",
#                 "--fault-free-changes 0", ...)
SOAK_ARGS ?=

.PHONY: soak

soak: $(STAMP) package cache-server
	$(PY) scripts/soak.py --out $(BUILD)/soak.json $(SOAK_ARGS)
