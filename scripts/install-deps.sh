#!/usr/bin/env bash
# Installs the system packages floodgate's tests and benchmarks use, from Debian's
# packages, if they are missing. Safe to run again; does nothing when all are present.
set -euo pipefail
need=()
for pkg in "$@"; do
  command -v "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
