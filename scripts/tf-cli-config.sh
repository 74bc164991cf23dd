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
set -euo pipefail
out=${1:?usage: tf-cli-config.sh <out-file>}

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

[[ -n "$mirror" ]] || exit 0
mkdir -p "$(dirname "$out")"
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
echo "$out"
