# Local runtime (ddbt, issue 4): a Docker-free local cloud that runs the deployed functions.
#   make demo     local cloud + examples/complete + a stream of job applications, printed, torn down
#   make up       start the local cloud and apply examples/complete; it keeps running
#   make down     stop what `make up` started
LOCAL_STATE ?= $(BUILD)/local

.PHONY: demo up down cache-server-if-possible

demo: $(STAMP) package cache-server-if-possible
	$(PY) scripts/demo.py --state-dir $(LOCAL_STATE)/demo

up: $(STAMP) package cache-server-if-possible
	$(PY) scripts/demo.py --keep --state-dir $(LOCAL_STATE)

# The cache processor runs locally on a Valkey/Redis server: found, or unpacked from Debian's
# packages (make cache-server); where neither works the local cloud runs without the cache.
cache-server-if-possible: $(STAMP)
	@$(PY) -m ddbt.local.cacheserver install >/dev/null 2>&1 || \
		echo "note: no Valkey/Redis server (make cache-server says why): no cache processor locally"

down:
	$(or $(wildcard $(PY)),$(PYTHON)) scripts/demo.py --down --state-dir $(LOCAL_STATE)
