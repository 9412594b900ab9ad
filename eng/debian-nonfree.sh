#!/usr/bin/env bash
# Sourced by eng/build-ptx.sh, eng/profile.sh and .ci/run: installs packages from Debian 12's contrib / non-free
# components (nvidia-cuda-toolkit, nsight-systems, libnvtoolsext1), adding that apt source when no source file
# lists non-free yet (same URI and keyring as /etc/apt/sources.list.d/debian.sources).
#   . eng/debian-nonfree.sh && csr_apt_install_nonfree nsight-systems
# Returns != 0 (with a line on stderr) when not root, not Debian, or apt cannot install the packages.

csr_apt_install_nonfree() {
  [ "$(id -u)" = "0" ] || { echo "debian-nonfree: not root: cannot install $*" >&2; return 1; }
  { [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; } || { echo "debian-nonfree: not Debian: cannot install $*" >&2; return 1; }
  if ! grep -Eqs '^[^#]*non-free( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; then
    cat > /etc/apt/sources.list.d/csr-nonfree.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  # Install from the current lists; refresh them and retry when a package is unknown or a download is stale.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 && return 0
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
    { echo "debian-nonfree: apt-get install $* failed" >&2; return 1; }
}
