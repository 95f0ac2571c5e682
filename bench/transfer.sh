#!/usr/bin/env bash
# A 1 GiB file served by nginx, archived into a real S3 server (s3s-fs) by
# recording-archiver, side by side in one run with `rclone copyurl` of the
# same URL into the same server. Reports wall time and peak RSS of each.
#   bench/transfer.sh [MiB]          (default 1024; needs ~4x that in free disk)
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-1024}
WEB=18090 S3=18091 API=18092
bash bench/install-tools.sh --s3
cargo build --release --quiet
work=$(mktemp -d -p "${TMPDIR:-/tmp}" transfer-bench.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/www" "$work/s3/archive" "$work/s3/rclone"
head -c $((MIB << 20)) /dev/urandom > "$work/www/rec.flv"
chmod -R a+rX "$work"   # nginx workers run unprivileged
want_sha=$(sha256sum "$work/www/rec.flv" | cut -d' ' -f1)

cat > "$work/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $work/nginx.pid; error_log $work/nginx.log;
events {}
http { access_log off; sendfile on; server { listen 127.0.0.1:$WEB; root $work/www; } }
CONF
/usr/sbin/nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)
bench/.tools/bin/s3s-fs --host 127.0.0.1 --port $S3 --access-key bench --secret-key bench-secret "$work/s3" >"$work/s3s.log" 2>&1 & pids+=($!)

cat > "$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:$API"
[state]
dir = "$work/state"
[store]
type = "s3"
bucket = "archive"
endpoint = "http://127.0.0.1:$S3"
force_path_style = true
access_key_id = "bench"
secret_access_key = "bench-secret"
[[sources]]
name = "bench"
provider = "jdcloud"
allow_hosts = ["127.0.0.1"]
TOML
RUST_LOG=warn target/release/recording-archiver serve --config "$work/config.toml" 2>"$work/daemon.log" & daemon=$!; pids+=($daemon)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$API/healthz" >/dev/null && curl -sf "http://127.0.0.1:$WEB/rec.flv" -o /dev/null -r 0-0 && break; sleep 0.1; done

echo "machine: $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); file: $MIB MiB from nginx into s3s-fs, all on 127.0.0.1"
body=$(printf '{"version":"v1.1","publishDomain":"p","appName":"live","streamName":"bench","event":"record_done","status":"success","downloadUrl":"http://127.0.0.1:%s/rec.flv"}' $WEB)
t0=$(date +%s.%N)
curl -sf -X POST "http://127.0.0.1:$API/callbacks/bench" -H 'content-type: application/json' -d "$body" >/dev/null
while :; do
  entry=$(curl -sf "http://127.0.0.1:$API/api/v1/catalog?limit=1")
  grep -q '"sha256"' <<<"$entry" && break
  grep -q '"failed"' <<<"$(curl -sf "http://127.0.0.1:$API/api/v1/jobs?state=failed")" && { echo "archive failed:"; cat "$work/daemon.log"; exit 1; }
  sleep 0.05
done
t1=$(date +%s.%N)
got_sha=$(sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p' <<<"$entry")
[ "$got_sha" = "$want_sha" ] || { echo "sha256 mismatch: $got_sha != $want_sha"; exit 1; }
d_rss=$(awk '/VmHWM/ {print $2}' "/proc/$daemon/status")

export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other \
  RCLONE_CONFIG_BENCH_ENDPOINT="http://127.0.0.1:$S3" RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=bench \
  RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=bench-secret RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true
# rclone refuses to start with AWS_CA_BUNDLE set in this environment.
env -u AWS_CA_BUNDLE /usr/bin/time -f "%e %M" -o "$work/rclone.time" \
  rclone copyurl "http://127.0.0.1:$WEB/rec.flv" bench:rclone/rec.flv 2>"$work/rclone.log"
read -r r_wall r_rss < "$work/rclone.time"

printf '%-40s %10s %14s\n' "tool" "wall (s)" "peak RSS (MiB)"
awk -v w="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" -v r="$d_rss" \
  'BEGIN {printf "%-40s %10.2f %14.1f\n", "recording-archiver (+SHA-256, +MD5)", w, r / 1024}'
awk -v w="$r_wall" -v r="$r_rss" -v v="$(rclone version 2>/dev/null | head -1 | awk '{print $2}')" \
  'BEGIN {printf "%-40s %10.2f %14.1f\n", "rclone copyurl " v, w, r / 1024}'
