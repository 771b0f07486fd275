#!/usr/bin/env bash
# Builds the test kernel once and caches it outside the repository.
#
# Source: Debian's linux-source package, fetched with a private apt
# configuration (sid and trixie are never added to the host's own sources).
# Preference: linux-source-7.2, else the newest linux-source-* sid or trixie
# offers (trixie's 6.12 last of all). The cache key is the source package's
# version plus a hash of kernel.config and RECIPE, so a changed fragment (or a
# changed build recipe, which must bump RECIPE) builds a new kernel and an
# unchanged one is reused.
#
# Prints the cache directory holding bzImage, config, include/ (the UAPI
# headers) and iommufd_test.h on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${IOMMUCTL_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommuctl-vm}
preferred=${IOMMUCTL_KERNEL_SOURCE:-linux-source-7.2}
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/cache"

log() { printf 'build-kernel: %s\n' "$*" >&2; }

exec 9>"$cache/.lock"
flock 9

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
write_sources() {
  # The archive this machine already uses, read at run time: no host is named here.
  local mirror
  mirror=$(bash "$here/debian-mirror.sh")
  cat >"$apt_dir/sources.list" <<SRC
deb [signed-by=$keyring] $mirror sid main
deb [signed-by=$keyring] $mirror trixie main
SRC
}
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "Dir::Cache::Archives=$apt_dir/archives"
  -o "APT::Get::List-Cleanup=0"
  -o "APT::Sandbox::User=root"
)

# 2: iommufd_test.h kept beside the headers (test/unit/uapi-layout.test.ts checks the mock ops' layout).
RECIPE=2
hash=$( (cat "$here/kernel.config"; echo "recipe $RECIPE") | sha256sum | cut -c1-12)

# A cached kernel for the preferred source is used without touching the
# network, so that later runs on this machine work offline.
for dir in "$cache"/kernel-"$preferred"_*-"$hash"; do
  if [ -f "$dir/bzImage" ]; then
    echo "$dir"
    exit 0
  fi
done

log "updating private package lists (sid, trixie)"
write_sources
apt-get "${apt_opts[@]}" -qq update >&2

available=$(apt-cache "${apt_opts[@]}" pkgnames linux-source- | grep -E '^linux-source-[0-9]+\.[0-9]+$' | sort -V)
[ -n "$available" ] || { log "no linux-source package found in sid or trixie"; exit 1; }
if grep -qx "$preferred" <<<"$available"; then
  pkg=$preferred
else
  pkg=$(tail -n1 <<<"$available")
  log "$preferred is gone; falling back to $pkg (available: $(echo $available))"
fi
version=$(apt-cache "${apt_opts[@]}" policy "$pkg" | awk '/Candidate:/ {print $2}')
out=$cache/kernel-${pkg}_${version}-$hash
if [ -f "$out/bzImage" ]; then
  echo "$out"
  exit 0
fi

work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "downloading $pkg $version"
(cd "$work" && apt-get "${apt_opts[@]}" -qq download "$pkg" >&2)
dpkg-deb -x "$work"/"$pkg"_*.deb "$work/pkg"
tarball=$(ls "$work"/pkg/usr/src/linux-source-*.tar.xz)
log "unpacking $(basename "$tarball")"
tar -xJf "$tarball" -C "$work"
src=$(ls -d "$work"/linux-source-*/)
rm -rf "$work/pkg" "$work"/*.deb
build=$work/build

jobs=$(($(nproc) + 1))
make -s -C "$src" O="$build" x86_64_defconfig >&2
make -s -C "$src" O="$build" kvm_guest.config >&2
(cd "$src" && scripts/kconfig/merge_config.sh -m -O "$build" "$build/.config" "$here/kernel.config" >&2)
make -s -C "$src" O="$build" olddefconfig >&2

# A renamed or unsatisfiable option would silently drop out: refuse that.
missing=""
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=y) grep -qx "$line" "$build/.config" || missing="$missing ${line%=y}" ;;
  esac
done <"$here/kernel.config"
[ -z "$missing" ] || { log "options not set after olddefconfig:$missing"; exit 1; }

log "building bzImage with $jobs jobs (several minutes on 2 cores)"
make -s -C "$src" O="$build" -j"$jobs" bzImage >&2
make -s -C "$src" O="$build" headers >&2

stage=$work/out
mkdir -p "$stage"
cp "$build/arch/x86/boot/bzImage" "$stage/bzImage"
cp "$build/.config" "$stage/config"
cp -r "$build/usr/include" "$stage/include"
# Not a UAPI header, and GPL-2.0 without the syscall note: kept in the cache, never in the repo.
cp "$src/drivers/iommu/iommufd/iommufd_test.h" "$stage/iommufd_test.h"
echo "$pkg $version" >"$stage/source"
mv "$stage" "$out"
log "kernel cached in $out"
echo "$out"
