# Shared by the benchmark scripts: the servers (nginx as the origin, Garage
# or s3s-fs as the S3 server), the daemon, rclone, and their measurements.
# Everything listens on 127.0.0.1 and runs on this machine's cores.
# Sourced, not run: `source bench/lib.sh` after `cd` to the repository.

BENCH_KEY=GK0123456789abcdef01234567
BENCH_SECRET=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
# The daemon's API is closed without its token (SECURITY.md).
BENCH_API_TOKEN=bench-api-token-0123456789abcdef
BENCH_AUTH="authorization: Bearer $BENCH_API_TOKEN"
GARAGE=bench/.tools/bin/garage
S3S=bench/.tools/bin/s3s-fs
# The daemon under test: ARCHIVER_BIN, e.g. another commit's build (bench/compare.sh).
ARCHIVER_BIN=${ARCHIVER_BIN:-target/release/recording-archiver}

work=$(mktemp -d -p "${TMPDIR:-/tmp}" bench.XXXX)
pids=()
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap bench_cleanup EXIT

machine() {
  echo "machine: $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); all on 127.0.0.1"
}

# nginx serving $work/www on port $1.
start_origin() {
  mkdir -p "$work/www"
  chmod a+rx "$work"
  cat > "$work/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $work/nginx.pid; error_log $work/nginx.log;
events {}
http { access_log off; sendfile on; server { listen 127.0.0.1:$1; root $work/www; autoindex on; } }
CONF
  /usr/sbin/nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)
  wait_port "$1"
}

# A file of $2 MiB of random bytes at $work/www/$1, readable by nginx.
random_file() {
  head -c $(($2 << 20)) /dev/urandom > "$work/www/$1"
  chmod a+r "$work/www/$1"
}

wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# The S3 server $1 (garage | s3s-fs) on port $2, with buckets "archive" and
# "rclone", and the key BENCH_KEY/BENCH_SECRET allowed on both.
start_s3() {
  local kind=$1 port=$2 dir="$work/$1"
  mkdir -p "$dir"
  case $kind in
    s3s-fs)
      mkdir -p "$dir/archive" "$dir/rclone"
      $S3S --host 127.0.0.1 --port "$port" --access-key "$BENCH_KEY" --secret-key "$BENCH_SECRET" "$dir" \
        >"$dir/log" 2>&1 & pids+=($!)
      wait_port "$port"
      ;;
    garage)
      cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$((port + 100))"
rpc_public_addr = "127.0.0.1:$((port + 100))"
rpc_secret = "$(printf '%064d' 7)"
[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:$port"
root_domain = ".s3.garage"
TOML
      $GARAGE -c "$dir/garage.toml" server >"$dir/log" 2>&1 & pids+=($!)
      for _ in $(seq 100); do $GARAGE -c "$dir/garage.toml" status >/dev/null 2>&1 && break; sleep 0.2; done
      local node; node=$($GARAGE -c "$dir/garage.toml" node id -q | cut -c1-64)
      $GARAGE -c "$dir/garage.toml" layout assign -z dc1 -c 100G "$node" >/dev/null
      $GARAGE -c "$dir/garage.toml" layout apply --version 1 >/dev/null
      $GARAGE -c "$dir/garage.toml" key import --yes -n bench "$BENCH_KEY" "$BENCH_SECRET" >/dev/null
      for b in archive rclone; do
        $GARAGE -c "$dir/garage.toml" bucket create "$b" >/dev/null
        $GARAGE -c "$dir/garage.toml" bucket allow --read --write --owner --key bench "$b" >/dev/null
      done
      wait_port "$port"
      ;;
  esac
}

# The daemon's config for an S3 store on port $1 (extra TOML in $2, e.g. a
# [transfer] table), listening on $API.
daemon_config() {
  cat > "$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:$API"
[api]
token = "$BENCH_API_TOKEN"
[state]
dir = "$work/state"
[store]
type = "s3"
bucket = "archive"
endpoint = "http://127.0.0.1:$1"
force_path_style = true
access_key_id = "$BENCH_KEY"
secret_access_key = "$BENCH_SECRET"
[[sources]]
name = "bench"
provider = "jdcloud"
allow_hosts = ["127.0.0.1"]
${2:-}
TOML
}

start_daemon() {
  rm -rf "$work/state"
  RUST_LOG=warn "$ARCHIVER_BIN" serve --config "$work/config.toml" 2>"$work/daemon.log" &
  daemon=$!
  pids+=("$daemon")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$API/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "the daemon did not start:" >&2; cat "$work/daemon.log" >&2; return 1
}

stop_daemon() {
  kill "$daemon" 2>/dev/null || true
  wait "$daemon" 2>/dev/null || true
}

# Announces http://127.0.0.1:$WEB/$1 as a JD Cloud v1.1 record_done.
announce() {
  local body
  body=$(printf '{"version":"v1.1","publishDomain":"p","appName":"live","streamName":"%s","event":"record_done","status":"success","downloadUrl":"http://127.0.0.1:%s/%s"}' "${1%.*}" "$WEB" "$1")
  curl -sf -X POST "http://127.0.0.1:$API/callbacks/bench" -H 'content-type: application/json' -d "$body" >/dev/null
}

# Waits until the catalog holds $1 entries (fails the run if a job fails).
wait_catalog() {
  while :; do
    local n
    n=$(curl -sf -H "$BENCH_AUTH" "http://127.0.0.1:$API/api/v1/catalog?limit=1000" | { grep -o '"sha256":"[0-9a-f]\{64\}"' || true; } | wc -l)
    [ "$n" -ge "$1" ] && return 0
    if curl -sf -H "$BENCH_AUTH" "http://127.0.0.1:$API/api/v1/jobs?state=failed" | grep -q '"id"'; then
      echo "a job failed:" >&2; curl -s -H "$BENCH_AUTH" "http://127.0.0.1:$API/api/v1/jobs?state=failed" >&2; return 1
    fi
    sleep 0.05
  done
}

# The daemon's peak RSS so far, MiB.
daemon_rss() {
  awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$daemon/status"
}

# CPU seconds (user + system) process $1 has used so far.
cpu_secs() {
  awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / t}' "/proc/$1/stat"
}

# With PERF=dir set: samples process $1 (named $2) with perf until
# profile_stop, then writes dir/$2.txt, the hottest symbols.
profile_start() {
  [ -n "${PERF:-}" ] || return 0
  mkdir -p "$PERF"
  perf record -q -F 499 -g -p "$1" -o "$PERF/$2.data" 2>/dev/null & perf_pids+=("$!:$2")
}
profile_stop() {
  [ -n "${PERF:-}" ] || return 0
  local p
  for p in "${perf_pids[@]}"; do
    kill -INT "${p%%:*}"; wait "${p%%:*}" 2>/dev/null || true
    perf report -q -i "$PERF/${p#*:}.data" --no-children --sort symbol --percent-limit 1.5 --stdio 2>/dev/null \
      | grep -v '^$' | grep '%' | head -25 > "$PERF/${p#*:}.txt"
  done
  perf_pids=()
}
perf_pids=()

# rclone's remote "bench:" for the S3 server on port $1.
rclone_env() {
  export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other \
    RCLONE_CONFIG_BENCH_ENDPOINT="http://127.0.0.1:$1" RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$BENCH_KEY \
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$BENCH_SECRET RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true \
    RCLONE_CONFIG_BENCH_REGION=us-east-1
  export RCLONE_CONFIG_WEB_TYPE=http RCLONE_CONFIG_WEB_URL="http://127.0.0.1:$WEB/"
}

# Runs rclone with $@ under GNU time; sets r_wall (s) and r_rss (MiB).
# rclone refuses to start with AWS_CA_BUNDLE set in this environment.
timed_rclone() {
  env -u AWS_CA_BUNDLE /usr/bin/time -f "%e %M" -o "$work/rclone.time" rclone "$@" 2>"$work/rclone.log" \
    || { cat "$work/rclone.log" >&2; return 1; }
  read -r r_wall r_rss < "$work/rclone.time"
  r_rss=$(awk -v k="$r_rss" 'BEGIN {printf "%.1f", k / 1024}')
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }
