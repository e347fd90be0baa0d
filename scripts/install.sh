#!/usr/bin/env bash
# Installs the provider like a registry release would be: a release build laid out as a Terraform
# filesystem mirror, so that a plain `terraform init` finds it (no dev_overrides).
#
#   scripts/install.sh                  # build, install into ~/.terraform.d/plugins (implied mirror)
#   scripts/install.sh --mirror DIR     # install into DIR instead (use it in a filesystem_mirror block)
#   scripts/install.sh --binary PATH    # install an already built binary
set -euo pipefail
cd "$(dirname "$0")/.."

mirror="${HOME}/.terraform.d/plugins"
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --mirror) mirror="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) os=$(uname -s | tr '[:upper:]' '[:lower:]') ;; esac
case "$(uname -m)" in x86_64|amd64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac

if [ -z "$binary" ]; then
  scripts/setup.sh
  cargo build --release --bin terraform-provider-m365backup
  binary="${CARGO_TARGET_DIR:-target}/release/terraform-provider-m365backup"
fi

dest="$mirror/registry.terraform.io/m365backup/m365backup/$version/${os}_${arch}"
mkdir -p "$dest"
install -m 0755 "$binary" "$dest/terraform-provider-m365backup_v$version"
echo "installed terraform-provider-m365backup $version for ${os}_${arch} into $dest"
if [ "$mirror" != "${HOME}/.terraform.d/plugins" ]; then
  cat <<HINT
Add to your Terraform CLI configuration (~/.terraformrc or TF_CLI_CONFIG_FILE):
  provider_installation {
    filesystem_mirror {
      path    = "$mirror"
      include = ["registry.terraform.io/m365backup/m365backup"]
    }
    direct {
      exclude = ["registry.terraform.io/m365backup/m365backup"]
    }
  }
HINT
fi
