#!/usr/bin/env bash
# Peak RSS in file size: one file of each size archived by a fresh daemon
# with default settings, and copied by `rclone copyurl` into the same server.
# The files are sparse (zeros: no disk, and Garage keeps one block of them);
# memory does not depend on the bytes, speed is measured in transfer.sh.
#   bench/memory.sh [MiB sizes] [runs] [server]     (defaults: "64 1024 6144" 3 garage)
# DAEMON_TOML adds to the daemon's config, e.g. $'[transfer]\nstream_parts = true'.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-64 1024 6144}
RUNS=${2:-3}
SERVER=${3:-garage}
WEB=18090 S3=18091 API=18092
bash bench/install-tools.sh --s3 --garage
# ARCHIVER_BIN (a binary built elsewhere) runs instead of this tree's build.
[ -n "${ARCHIVER_BIN:-}" ] || cargo build --release --quiet
source bench/lib.sh

machine
echo "default [transfer] settings (8 MiB parts, 2 in flight), into $SERVER; rclone $(rclone version 2>/dev/null | head -1 | awk '{print $2}') defaults"
start_origin $WEB
start_s3 "$SERVER" $S3
daemon_config $S3 "${DAEMON_TOML:-}"
rclone_env $S3
printf '%-8s %-4s %12s %14s %12s %14s %8s\n' MiB run "archiver s" "archiver MiB" "rclone s" "rclone MiB" ratio
for size in $SIZES; do
  for run in $(seq "$RUNS"); do
    truncate -s "${size}M" "$work/www/z$size-$run.flv"
    chmod a+r "$work/www/z$size-$run.flv"
    start_daemon
    t0=$(now)
    announce "z$size-$run.flv"
    wait_catalog 1
    d_wall=$(elapsed "$t0" "$(now)") d_rss=$(daemon_rss)
    stop_daemon
    timed_rclone copyurl "http://127.0.0.1:$WEB/z$size-$run.flv" "bench:rclone/z$size-$run.flv"
    printf '%-8s %-4s %12s %14s %12s %14s %8s\n' "$size" "$run" "$d_wall" "$d_rss" "$r_wall" "$r_rss" \
      "$(awk -v a="$d_rss" -v b="$r_rss" 'BEGIN {printf "%.2f", a / b}')"
    rm -f "$work/www/z$size-$run.flv"
  done
done
