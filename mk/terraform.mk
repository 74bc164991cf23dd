# Terraform module: format, validate, plan-level tests, security scan, the inputs/outputs docs.
#   make tf-test       terraform fmt -check, validate (root + examples), terraform test, checkov
#   make tf-docs       regenerate the inputs/outputs tables (docs/module.md) and the README index
#   make tf-fmt        format every .tf / .tftest.hcl file
#   make tf-env        print the export line that points plain `terraform`, in any folder, at
#                      the local provider mirror: eval "$(make -s tf-env)"
# Providers come from the public registry, or from a local filesystem mirror when one exists:
# TF_PLUGIN_MIRROR=<dir> (or discovery of /opt/tf-plugins, ~/.terraform.d/plugins, ...) writes
# build/terraformrc and points TF_CLI_CONFIG_FILE at it (scripts/terraform.sh, make tf-env).
# terraform apply of examples/complete against the local endpoint runs in py-test, once per
# run (tests/e2e: the resources as applied, no drift, the processors, the destroy).

TF := scripts/terraform.sh
TF_EXAMPLES := $(sort $(dir $(wildcard examples/*/main.tf)))
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: tf-test tf-fmt tf-fmt-check tf-init tf-validate tf-unit tf-scan tf-docs tf-docs-check tf-env

tf-test: tf-fmt-check tf-validate tf-unit tf-scan tf-docs-check

tf-env:
	@bash scripts/tf-cli-config.sh --export

tf-fmt:
	$(TF) fmt -recursive .

tf-fmt-check:
	$(TF) fmt -check -recursive -diff .

# Each directory gets its own .terraform (lock files are not committed: see .gitignore).
# Run once per make invocation; in `make test`, before anything that uses .terraform.
tf-init:
	@for dir in . $(TF_EXAMPLES); do \
		echo "terraform init $$dir"; \
		(cd $$dir && $(CURDIR)/$(TF) init -backend=false -input=false -no-color >/dev/null) || exit 1; \
	done

tf-validate: tf-init
	@for dir in . $(TF_EXAMPLES); do \
		echo "terraform validate $$dir"; \
		(cd $$dir && $(CURDIR)/$(TF) validate -no-color) || exit 1; \
	done

# The module's default code (dist/handlers.zip) must exist for the plan-level tests. One
# `terraform test` over every file, sharing one provider process (scripts/tf-test.sh says why).
tf-unit: tf-init
	@test -f dist/handlers.zip || { echo "error: dist/handlers.zip is missing (make dist)" >&2; exit 1; }
	@$(BACKGROUND) scripts/tf-test.sh

# In `make test`, after .venv: its uv makes this virtualenv in a second, pip's way in five.
$(CHECKOV_STAMP): requirements-scan.txt | $(if $(TEST_RUN),$(STAMP))
	$(call venv,$(CHECKOV_VENV),-r requirements-scan.txt)
	@touch $@

# Fails on any failed check; a check may only be skipped inline with a written reason
# (#checkov:skip=<ID>:<reason>), which checkov_skips.py enforces.
tf-scan: $(CHECKOV_STAMP)
	$(or $(wildcard $(PY)),$(PYTHON)) scripts/checkov_skips.py .
	$(BACKGROUND) $(CHECKOV_VENV)/bin/checkov --directory . --framework terraform --skip-path tests \
		--download-external-modules false --skip-download --compact --quiet

tf-docs:
	$(or $(wildcard $(PY)),$(PYTHON)) scripts/tfdocs.py

tf-docs-check:
	$(or $(wildcard $(PY)),$(PYTHON)) scripts/tfdocs.py --check
