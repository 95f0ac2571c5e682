#!/usr/bin/env bash
# Installs what the benchmarks use, from Debian's packages: wrk (HTTP load).
set -euo pipefail
need=()
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
wrk --version 2>&1 | head -1 || true
