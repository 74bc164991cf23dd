#!/usr/bin/env bash
# Run the module's plan-level tests (tests/*.tftest.hcl) in one `terraform test`, with one
# hashicorp/aws provider process shared by every run block.
#
# Why: Terraform starts the provider twice per run block (to validate, then to plan), about
# 340 starts for the suite at about 0.3 CPU-s each, and every `terraform test` process decodes
# the provider's schema again. Started once in its debug mode, the provider prints a
# TF_REATTACH_PROVIDERS value, and every Terraform command given it attaches to that process
# instead of starting one (Terraform's documented way to debug a provider). The suite then
# costs about a third of the CPU (this machine: 277 CPU-s as 20 processes, 96 shared).
# Sharing is safe here: every test file uses mock_provider, so Terraform only asks the real
# provider for its schema and to validate configuration, which hold no state; nothing is
# configured or applied through it (tests/security and tests/conformance run their mocked
# plan tests through this script too). The Python tests that apply against the local endpoint
# start their own providers, as a user's terraform does.
#
# Falls back to Terraform's own provider starts when .terraform holds no single
# hashicorp/aws binary or the binary prints no reattach value.
#
# usage: scripts/tf-test.sh [terraform test options, e.g. -filter=tests/x.tftest.hcl]
# Prints each file's result and the summary; the whole output when anything fails.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

work=$(mktemp -d)
provider_pid=""
cleanup() {
  [[ -z "$provider_pid" ]] || kill "$provider_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

shopt -s nullglob
binaries=(.terraform/providers/registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*)
shopt -u nullglob
if [[ ${#binaries[@]} -eq 1 ]]; then
  # The provider's own logs would go to its stderr at trace level: off (it serves no apply).
  # The output file exists before the provider starts: the loop may read it first.
  : >"$work/provider.out"
  TF_LOG=off TF_LOG_PROVIDER=off TF_LOG_SDK=off "${binaries[0]}" -debug >>"$work/provider.out" 2>&1 &
  provider_pid=$!
  # Should this script be killed outright (a caller's timeout), the provider goes too.
  (while kill -0 $$ 2>/dev/null; do sleep 1; done; kill "$provider_pid" 2>/dev/null) \
    </dev/null >/dev/null 2>&1 &
  for _ in $(seq 600); do # up to 60 s for the provider to listen
    reattach=$(sed -n "s/^[[:space:]]*TF_REATTACH_PROVIDERS='\(.*\)'$/\1/p" "$work/provider.out" || true)
    if [[ -n "$reattach" ]]; then
      export TF_REATTACH_PROVIDERS=$reattach
      break
    fi
    kill -0 "$provider_pid" 2>/dev/null || break
    sleep 0.1
  done
fi
[[ -n "${TF_REATTACH_PROVIDERS:-}" ]] ||
  echo "note: no shared provider (see scripts/tf-test.sh); Terraform starts its own" >&2

rc=0
scripts/terraform.sh test -no-color "$@" >"$work/test.out" 2>&1 || rc=$?
if [[ $rc -eq 0 ]]; then
  grep -E '^(tests/.*\.tftest\.hcl\.\.\. (pass|fail|skip)|Success!)' "$work/test.out" || true
else
  cat "$work/test.out"
fi
exit $rc
