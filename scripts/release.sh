#!/usr/bin/env bash
# Produces the Terraform registry's release artifacts in dist/ for the platforms this machine can
# build (its own): terraform-provider-m365backup_<version>_<os>_<arch>.zip, the SHA256SUMS file
# and terraform-registry-manifest.json (plugin protocol 6.0).
#
# Other platforms: build each target with `cargo build --release --target <triple>` on a machine
# (or CI runner) of that platform, or with cargo-zigbuild / cross, then run this script with
# RELEASE_TARGETS="<triple>=<os>_<arch> ..." to package them; the registry then needs a GPG
# signature of SHA256SUMS (`gpg --detach-sign`), which this script does not make.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
target_dir="${CARGO_TARGET_DIR:-target}"
case "$(uname -m)" in x86_64|amd64) host_arch=amd64 ;; aarch64|arm64) host_arch=arm64 ;; *) host_arch=$(uname -m) ;; esac
targets="${RELEASE_TARGETS:-host=$(uname -s | tr '[:upper:]' '[:lower:]')_$host_arch}"

rm -rf dist && mkdir -p dist
for spec in $targets; do
  triple="${spec%%=*}"; platform="${spec#*=}"
  if [ "$triple" = host ]; then
    cargo build --release --bin terraform-provider-m365backup
    bin="$target_dir/release/terraform-provider-m365backup"
  else
    cargo build --release --bin terraform-provider-m365backup --target "$triple"
    bin="$target_dir/$triple/release/terraform-provider-m365backup"
  fi
  zip="dist/terraform-provider-m365backup_${version}_${platform}.zip"
  python3 - "$bin" "$zip" "terraform-provider-m365backup_v$version" <<'PY'
import sys, zipfile
src, dst, name = sys.argv[1:]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, open(src, "rb").read())
PY
  echo "packaged $zip"
done

cat > "dist/terraform-provider-m365backup_${version}_manifest.json" <<JSON
{
  "version": 1,
  "metadata": {
    "protocol_versions": ["6.0"]
  }
}
JSON
cp "dist/terraform-provider-m365backup_${version}_manifest.json" dist/terraform-registry-manifest.json
(cd dist && sha256sum terraform-provider-m365backup_"${version}"_*.zip terraform-provider-m365backup_"${version}"_manifest.json > "terraform-provider-m365backup_${version}_SHA256SUMS")
echo "release artifacts in dist/:"; ls -1 dist
