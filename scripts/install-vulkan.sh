#!/usr/bin/env bash
# Installs Mesa 25's lavapipe (a CPU Vulkan driver) so that the `webgpu` npm package (Dawn) can run
# @tensorflow/tfjs-backend-webgpu on a machine without a GPU. Debian bookworm's own Mesa (22.x) is
# refused by Dawn; bookworm-backports has Mesa 25. Needs root (or sudo) and apt. Safe to run twice.
set -euo pipefail
have() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null | grep -Eq '^(2[5-9]|[3-9][0-9])\.'; }
if have mesa-vulkan-drivers && ldconfig -p | grep -q 'libvulkan.so.1'; then
  echo "install-vulkan: Mesa $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) and libvulkan1 already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-vulkan: no apt-get here; install a Vulkan driver (Mesa >= 25 lavapipe, or your GPU's) yourself" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
  src=/etc/apt/sources.list.d/bookworm-backports.sources
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' | $SUDO tee "$src" >/dev/null
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1
else
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1
fi
echo "install-vulkan: Mesa $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) installed"
