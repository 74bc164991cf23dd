#!/usr/bin/env bash
# Run terraform with the repository's provider set-up: when a local filesystem mirror of
# hashicorp/aws exists (TF_PLUGIN_MIRROR, or one of the standard places, see tf-cli-config.sh)
# TF_CLI_CONFIG_FILE points at a generated build/terraformrc; otherwise terraform uses the
# public registry as usual. Usable from any directory: scripts/terraform.sh <args>.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
terraform_bin=${TERRAFORM:-terraform}
command -v "$terraform_bin" >/dev/null || {
  echo "error: terraform not found (install Terraform >= 1.11, or set TERRAFORM=/path/to/terraform)" >&2
  exit 127
}
rc=$("$root/scripts/tf-cli-config.sh" "$root/build/terraformrc")
if [[ -n "$rc" ]]; then
  export TF_CLI_CONFIG_FILE=$rc
elif [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -e "$TF_CLI_CONFIG_FILE" ]]; then
  unset TF_CLI_CONFIG_FILE # points at a missing file: only warnings would come of it
fi
exec "$terraform_bin" "$@"
