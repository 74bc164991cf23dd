#!/usr/bin/env bash
# Write a Terraform CLI config that installs hashicorp/* providers from a local filesystem
# mirror, when one is available, and print its path. Print nothing when there is no mirror
# (then Terraform uses the public registry as usual).
#
#   TF_PLUGIN_MIRROR=<dir>  use this mirror (must exist); TF_PLUGIN_MIRROR=none disables discovery
#   otherwise the first directory that holds registry.terraform.io/hashicorp/aws among
#   TF_PLUGIN_MIRROR_SEARCH (colon-separated; default: /opt/tf-plugins
#   /usr/share/terraform/plugins /usr/local/share/terraform/plugins ~/.terraform.d/plugins
#   ~/.local/share/terraform/plugins)
#
# usage: scripts/tf-cli-config.sh <out-file>
#          write the config there and print its path
#        scripts/tf-cli-config.sh --export [out-file]
#          write it (default <repository>/build/terraformrc) and print
#          `export TF_CLI_CONFIG_FILE=...`: after eval "$(scripts/tf-cli-config.sh --export)"
#          (or eval "$(make -s tf-env)"), plain `terraform` in any folder of that shell uses
#          the mirror
set -euo pipefail
usage="usage: tf-cli-config.sh <out-file> | --export [out-file]"
export_line=false
if [[ "${1:-}" == --export ]]; then
  export_line=true
  out=${2:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/terraformrc"}
else
  out=${1:?$usage}
fi

mirror=""
if [[ -n "${TF_PLUGIN_MIRROR:-}" ]]; then
  if [[ "$TF_PLUGIN_MIRROR" != none ]]; then
    [[ -d "$TF_PLUGIN_MIRROR" ]] || { echo "error: TF_PLUGIN_MIRROR=$TF_PLUGIN_MIRROR is not a directory" >&2; exit 1; }
    mirror=$(cd "$TF_PLUGIN_MIRROR" && pwd)
  fi
else
  search=${TF_PLUGIN_MIRROR_SEARCH:-/opt/tf-plugins:/usr/share/terraform/plugins:/usr/local/share/terraform/plugins:$HOME/.terraform.d/plugins:$HOME/.local/share/terraform/plugins}
  IFS=: read -r -a dirs <<< "$search"
  for dir in "${dirs[@]}"; do
    if [[ -n "$dir" && -d "$dir/registry.terraform.io/hashicorp/aws" ]]; then mirror=$dir; break; fi
  done
fi

if [[ -z "$mirror" ]]; then
  if $export_line; then
    echo "# no local provider mirror found: terraform installs providers from the public registry"
  fi
  exit 0
fi
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")" # valid from any folder
tmp=$(mktemp "$out.XXXXXX") # parallel callers: each writes its own file, then an atomic rename
cat > "$tmp" <<CFG
# Written by scripts/tf-cli-config.sh: hashicorp providers from a local mirror.
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
CFG
if cmp -s "$tmp" "$out"; then rm -f "$tmp"; else mv -f "$tmp" "$out"; fi
if $export_line; then
  printf 'export TF_CLI_CONFIG_FILE=%q\n' "$out"
else
  echo "$out"
fi
