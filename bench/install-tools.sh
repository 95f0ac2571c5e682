#!/usr/bin/env bash
# Installs what the benchmarks use: wrk, nginx, rclone and GNU time from Debian's
# packages, and S3-protocol servers under bench/.tools, built from crates.io:
# s3s-fs 0.14.1 (newer versions need a newer rustc than 1.95), Garage 2.5.0.
set -euo pipefail
cd "$(dirname "$0")"
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v rclone >/dev/null || need+=(rclone)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
for flag in "$@"; do
  case $flag in
    --s3) [ -x .tools/bin/s3s-fs ] || cargo install --quiet --locked --root .tools s3s-fs --version =0.14.1 --features binary ;;
    # Garage: an S3 server closer to production ones (about 7 minutes to build).
    --garage) [ -x .tools/bin/garage ] || cargo install --quiet --locked --root .tools garage --version =2.5.0 ;;
  esac
done
