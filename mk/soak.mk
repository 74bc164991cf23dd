# Soak (issue 6): a few minutes of sustained writes through the local runtime, then the
# accounting (written, delivered, in failure records, duplicates, lost, max lag).
#   make soak     run it; figures on stdout and in build/soak.json
SOAK_ARGS ?=

.PHONY: soak

soak: $(STAMP) package
	$(PY) scripts/soak.py --out $(BUILD)/soak.json $(SOAK_ARGS)
