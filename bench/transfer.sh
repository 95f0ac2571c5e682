#!/usr/bin/env bash
# One file from an HTTP origin (nginx) into S3: recording-archiver against
# `rclone copyurl` of the same kind of file into the same server, and the
# server's own floor (curl PUTting the file from local disk, unsigned
# payload: the least client work). Each run uses fresh random bytes per tool,
# so no server deduplicates one tool's blocks for another.
#   bench/transfer.sh [MiB] [runs] [servers]    (defaults: 1024 3 "garage s3s-fs")
# Installs nginx, rclone, GNU time (Debian), s3s-fs 0.14.1 and Garage 2.5.0 (crates.io).
# PERF=dir also profiles the daemon and the server during run 1 (perf, Debian).
# DAEMON_TOML adds to the daemon's config, e.g. $'[transfer]\nstream_parts = true'.
# RCLONE=0 leaves out rclone and the floor (the daemon alone); ARCHIVER_BIN runs
# that binary instead of building this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-1024}
RUNS=${2:-3}
SERVERS=${3:-garage s3s-fs}
WEB=18090 S3=18091 API=18092
RCLONE=${RCLONE:-1}
# Only the servers this run uses.
bash bench/install-tools.sh $(for s in $SERVERS; do case $s in garage) echo --garage ;; s3s-fs) echo --s3 ;; esac; done)
# ARCHIVER_BIN (a binary built elsewhere) runs instead of this tree's build.
[ -n "${ARCHIVER_BIN:-}" ] || cargo build --release --quiet
source bench/lib.sh

machine
echo "file: $MIB MiB of random bytes; daemon: default [transfer] (8 MiB parts, 2 in flight); rclone $(rclone version 2>/dev/null | head -1 | awk '{print $2}') defaults"
start_origin $WEB
printf '%-8s %-4s %12s %10s %12s %10s %12s %10s %16s\n' server run "archiver s" "RSS MiB" "rclone s" "RSS MiB" "floor s" "ratio" "CPU s (arch/srv)"
for server in $SERVERS; do
  start_s3 "$server" $S3
  s3pid=${pids[-1]}
  daemon_config $S3 "${DAEMON_TOML:-}"
  rclone_env $S3
  for run in $(seq "$RUNS"); do
    random_file "a-$run.flv" "$MIB"
    s_cpu=$(cpu_secs "$s3pid")
    want=$(sha256sum "$work/www/a-$run.flv" | cut -d' ' -f1)
    start_daemon
    [ "$run" = 1 ] && profile_start "$daemon" "archiver-$server" && profile_start "$s3pid" "$server"
    t0=$(now)
    announce "a-$run.flv"
    wait_catalog 1
    t1=$(now)
    [ "$run" = 1 ] && profile_stop
    got=$(curl -sf -H "$BENCH_AUTH" "http://127.0.0.1:$API/api/v1/catalog?limit=1" | sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p')
    [ "$got" = "$want" ] || { echo "sha256 mismatch: $got != $want" >&2; exit 1; }
    d_wall=$(elapsed "$t0" "$t1") d_rss=$(daemon_rss) d_cpu=$(cpu_secs "$daemon") s_cpu0=$(cpu_secs "$s3pid")
    stop_daemon
    rm -f "$work/www/a-$run.flv"

    r_wall=- r_rss=- floor=-
    if [ "$RCLONE" != 0 ]; then
      random_file "b-$run.flv" "$MIB"
      timed_rclone copyurl "http://127.0.0.1:$WEB/b-$run.flv" "bench:rclone/b-$run.flv"
      rm -f "$work/www/b-$run.flv"

      random_file "c-$run.flv" "$MIB"
      t0=$(now)
      curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$BENCH_KEY:$BENCH_SECRET" \
        -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T "$work/www/c-$run.flv" \
        "http://127.0.0.1:$S3/rclone/c-$run.flv" >/dev/null
      t1=$(now)
      floor=$(elapsed "$t0" "$t1")
      rm -f "$work/www/c-$run.flv"
    fi
    # s3s-fs keeps objects as plain files: free the disk for the next run.
    [ "$server" = s3s-fs ] && rm -rf "$work/s3s-fs/archive/"* "$work/s3s-fs/rclone/"*
    printf '%-8s %-4s %12s %10s %12s %10s %12s %10s %16s\n' "$server" "$run" "$d_wall" "$d_rss" "$r_wall" "$r_rss" "$floor" \
      "$(awk -v a="$d_wall" -v b="$r_wall" 'BEGIN {if (b + 0 > 0) printf "%.2fx", a / b; else print "-"}')" \
      "$d_cpu/$(awk -v a="$s_cpu" -v b="$s_cpu0" 'BEGIN {printf "%.1f", b - a}')"
  done
  kill "$s3pid"; wait "$s3pid" 2>/dev/null || true
done
