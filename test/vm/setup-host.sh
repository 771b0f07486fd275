#!/usr/bin/env bash
# Installs what the VM tier needs on a Debian bookworm host: the kernel's
# build dependencies, busybox for the guest's initramfs, pciutils (lspci, to
# compare against), e2fsprogs, iproute2 and util-linux (the guest runs the
# host's mkfs.ext4, ip and setpriv: the interlock and permission tests),
# acpica-tools (iasl, the reference decode of DMAR and IVRS tables),
# prometheus (promtool, which checks `export --format prometheus`),
# ansible-core (which reads `contrib/iommuctl.fact` as a local fact), systemd
# (systemd-analyze verify, which checks the boot units `host install-boot` writes), zsh
# (which loads `iommuctl completion zsh`), man-db (man and lexgrog read the man page) and
# QEMU 10 from bookworm-backports. Idempotent: a host
# that has everything installs nothing.
set -euo pipefail

need=(bc bison flex libelf-dev libssl-dev cpio xz-utils busybox-static pciutils gcc make e2fsprogs iproute2 util-linux acpica-tools prometheus ansible-core systemd zsh man-db)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

have_qemu() {
  command -v qemu-system-x86_64 >/dev/null 2>&1 &&
    qemu-system-x86_64 --version | grep -qE 'version (9|[1-9][0-9])\.'
}

if [ ${#missing[@]} -eq 0 ] && have_qemu; then
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

backports=/etc/apt/sources.list.d/iommuctl-bookworm-backports.sources
if ! have_qemu && [ ! -f "$backports" ]; then
  # The archive this machine already uses, read at run time: no host is named here.
  mirror=$(bash "$(dirname "$0")/debian-mirror.sh")
  $sudo tee "$backports" >/dev/null <<SRC
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! have_qemu; then
  $sudo apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86
fi
have_qemu || { echo "setup-host: QEMU >= 9 could not be installed" >&2; exit 1; }
