#!/usr/bin/env bash
# Installs the provider like a registry release would be: a release build laid out as a Terraform
# filesystem mirror, so that a plain `terraform init` finds it (no dev_overrides), and a link to it
# on your PATH, so that you can run `terraform-provider-m365backup login`.
#
#   scripts/install.sh                          # build; mirror in ~/.terraform.d/plugins, command in ~/.local/bin
#   scripts/install.sh --with-emulator          # also build and install m365backup-emulator in ~/.local/bin
#   scripts/install.sh --mirror DIR             # put the mirror in DIR instead (use it in a filesystem_mirror block)
#   scripts/install.sh --bin-dir DIR            # put the commands in DIR instead of ~/.local/bin
#   scripts/install.sh --no-bin                 # no link to the provider in the bin dir
#   scripts/install.sh --binary PATH            # install an already built provider binary
#   scripts/install.sh --emulator-binary PATH   # install an already built emulator (implies --with-emulator)
set -euo pipefail
cd "$(dirname "$0")/.."

mirror="${HOME}/.terraform.d/plugins"
bin_dir="${HOME}/.local/bin"
binary=""
emulator_binary=""
with_emulator=0
link=1
while [ $# -gt 0 ]; do
  case "$1" in
    --mirror) mirror="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --no-bin) link=0; shift ;;
    --binary) binary="$2"; shift 2 ;;
    --emulator-binary) emulator_binary="$2"; with_emulator=1; shift 2 ;;
    --with-emulator) with_emulator=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) os=$(uname -s | tr '[:upper:]' '[:lower:]') ;; esac
case "$(uname -m)" in x86_64|amd64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac

build=()
[ -z "$binary" ] && build+=(--bin terraform-provider-m365backup)
[ "$with_emulator" = 1 ] && [ -z "$emulator_binary" ] && build+=(--bin m365backup-emulator)
if [ ${#build[@]} -gt 0 ]; then
  scripts/setup.sh
  cargo build --release --workspace "${build[@]}"
  target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  [ -z "$binary" ] && binary="$target_dir/release/terraform-provider-m365backup"
  [ "$with_emulator" = 1 ] && [ -z "$emulator_binary" ] && emulator_binary="$target_dir/release/m365backup-emulator"
fi

dest="$mirror/registry.terraform.io/m365backup/m365backup/$version/${os}_${arch}"
file="$dest/terraform-provider-m365backup_v$version"
mkdir -p "$dest"
install -m 0755 "$binary" "$file"
echo "installed terraform-provider-m365backup $version for ${os}_${arch}: $file"

if [ "$link" = 1 ]; then
  mkdir -p "$bin_dir"
  ln -sfn "$file" "$bin_dir/terraform-provider-m365backup"
  echo "linked $bin_dir/terraform-provider-m365backup -> $file (for login, logout, --version)"
fi
if [ "$with_emulator" = 1 ]; then
  mkdir -p "$bin_dir"
  install -m 0755 "$emulator_binary" "$bin_dir/m365backup-emulator"
  echo "installed $bin_dir/m365backup-emulator"
fi
if [ "$link" = 1 ] || [ "$with_emulator" = 1 ]; then
  case ":${PATH}:" in
    *":$bin_dir:"*) ;;
    *) echo "$bin_dir is not on your PATH: add it, for example: export PATH=\"$bin_dir:\$PATH\"" ;;
  esac
fi

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
