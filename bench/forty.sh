#!/usr/bin/env bash
# Forty recordings at once: N files of M MiB announced within one second,
# timed until all are in the catalog, against `rclone copy --files-from` of
# N other files of the same size (http backend) into the same server, with
# the same number of files moving at once (workers = rclone --transfers).
# Each run starts a fresh S3 server; each tool gets its own random bytes.
#   bench/forty.sh [files] [MiB] [runs] [server] [workers]   (defaults: 40 64 3 garage 4)
# PERF=dir also profiles the daemon and the server during run 1 (perf, Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-40}
MIB=${2:-64}
RUNS=${3:-3}
SERVER=${4:-garage}
WORKERS=${5:-4}
WEB=18090 S3=18091 API=18092
bash bench/install-tools.sh --s3 --garage
# ARCHIVER_BIN (a binary built elsewhere) runs instead of this tree's build.
[ -n "${ARCHIVER_BIN:-}" ] || cargo build --release --quiet
source bench/lib.sh

machine
echo "$N files of $MIB MiB into $SERVER; daemon: workers = $WORKERS, other [transfer] defaults (8 MiB parts, 2 in flight);" \
  "rclone $(rclone version 2>/dev/null | head -1 | awk '{print $2}') copy --transfers $WORKERS; RSS budget: $WORKERS x 2 x 8 + 32 = $((WORKERS * 16 + 32)) MiB"
start_origin $WEB
printf '%-4s %12s %10s %12s %10s %10s\n' run "archiver s" "RSS MiB" "rclone s" "RSS MiB" ratio
for run in $(seq "$RUNS"); do
  start_s3 "$SERVER" $S3
  s3pid=${pids[-1]}
  daemon_config $S3 "[transfer]
workers = $WORKERS"
  rclone_env $S3
  for i in $(seq "$N"); do random_file "a$run-$i.flv" "$MIB"; random_file "b$run-$i.flv" "$MIB"; done
  start_daemon
  [ "$run" = 1 ] && profile_start "$daemon" archiver && profile_start "$s3pid" "$SERVER"
  t0=$(now)
  posts=()
  for i in $(seq "$N"); do announce "a$run-$i.flv" & posts+=($!); done
  wait "${posts[@]}"
  announced=$(elapsed "$t0" "$(now)")
  wait_catalog "$N"
  d_wall=$(elapsed "$t0" "$(now)") d_rss=$(daemon_rss)
  [ "$run" = 1 ] && profile_stop
  stop_daemon
  for i in $(seq "$N"); do echo "b$run-$i.flv"; done > "$work/files.txt"
  timed_rclone copy web: bench:rclone --files-from "$work/files.txt" --transfers "$WORKERS"
  printf '%-4s %12s %10s %12s %10s %10s   (announced in %s s)\n' "$run" "$d_wall" "$d_rss" "$r_wall" "$r_rss" \
    "$(awk -v a="$d_wall" -v b="$r_wall" 'BEGIN {printf "%.2fx", a / b}')" "$announced"
  rm -f "$work/www/"*.flv
  kill "$s3pid"; wait "$s3pid" 2>/dev/null || true
  rm -rf "${work:?}/$SERVER"
done
