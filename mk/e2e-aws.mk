# Opt-in end-to-end run on a real AWS account (never part of `make test`; refuses without both):
#   make e2e-aws E2E_AWS_PREFIX=<prefix>   apply examples/complete plus a recorder as ex-<prefix>-...
#                                          with your AWS credentials, drive changes, check every
#                                          processor, destroy; print the event shapes AWS sent in
#                                          the conformance corpus format (tests/e2e/aws.py)
E2E_AWS_PREFIX ?=
E2E_AWS_ARGS ?=

.PHONY: e2e-aws

e2e-aws: $(STAMP) package
	@$(PY) -m tests.e2e.aws --prefix "$(E2E_AWS_PREFIX)" $(E2E_AWS_ARGS)
