# Local runtime (ddbt, issue 4): a Docker-free local cloud that runs the deployed functions.
#   make demo     local cloud + examples/complete + a stream of job applications, printed, torn down
#   make up       start the local cloud and apply examples/complete; it keeps running
#   make down     stop what `make up` started
LOCAL_STATE ?= $(BUILD)/local

.PHONY: demo up down

demo: $(STAMP) package
	$(PY) scripts/demo.py --state-dir $(LOCAL_STATE)/demo

up: $(STAMP) package
	$(PY) scripts/demo.py --keep --state-dir $(LOCAL_STATE)

down:
	$(or $(wildcard $(PY)),$(PYTHON)) scripts/demo.py --down --state-dir $(LOCAL_STATE)
