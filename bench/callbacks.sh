#!/usr/bin/env bash
# Durable callbacks per second and latency, side by side with GET /healthz of
# the same server (the no-work ceiling). Everything on this machine's cores.
#   bench/callbacks.sh [connections] [seconds]
# PERF=dir profiles the daemon during the record_done run (dir/callbacks.txt);
# DAEMON_TOML adds to its config (e.g. $'[transfer]\nworkers = 0');
# ARCHIVER_BIN runs that binary instead of building this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${1:-64}
SECS=${2:-15}
PORT=${PORT:-18080}
# The daemon's API is closed without its token (SECURITY.md).
BENCH_API_TOKEN=bench-api-token-0123456789abcdef
BENCH_AUTH="authorization: Bearer $BENCH_API_TOKEN"
bash bench/install-tools.sh >/dev/null
# ARCHIVER_BIN (a binary built elsewhere) runs instead of this tree's build.
[ -n "${ARCHIVER_BIN:-}" ] || cargo build --release --quiet
ARCHIVER_BIN=${ARCHIVER_BIN:-target/release/recording-archiver}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
[api]
token = "$BENCH_API_TOKEN"
[state]
dir = "$work/state"
[store]
type = "fs"
root = "$work/archive"
[[sources]]
name = "bench"
provider = "jdcloud"
token = "bench-token"
${DAEMON_TOML:-}
TOML
RUST_LOG=warn "$ARCHIVER_BIN" serve --config "$work/config.toml" 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "the daemon did not start:" >&2; cat "$work/daemon.log" >&2; exit 1; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "load: wrk -t2 -c$CONNS -d${SECS}s --latency (wrk shares the same cores)"
run() { # name, wrk args...
  local name=$1; shift
  local out; out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$@")
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  printf '%-34s %12s req/s   p50 %-9s p99 %-9s non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "$non2xx"
}
printf '%-34s %18s   %-13s %-13s\n' "endpoint" "throughput" "" ""
run "GET /healthz (ceiling)" "http://127.0.0.1:$PORT/healthz"
for script in publish record_done; do
  sed "s|path_with_token|\"/callbacks/bench?token=bench-token\"|" "bench/$script.lua" > "$work/$script.lua"
done
run "POST publish_started (event)" -s "$work/publish.lua" "http://127.0.0.1:$PORT/"
if [ -n "${PERF:-}" ]; then
  mkdir -p "$PERF"
  perf record -q -F 499 -g -p "$pid" -o "$PERF/callbacks.data" 2>/dev/null & perf_pid=$!
fi
run "POST record_done (event+job)" -s "$work/record_done.lua" "http://127.0.0.1:$PORT/"
if [ -n "${PERF:-}" ]; then
  kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
  perf report -q -i "$PERF/callbacks.data" --no-children --sort dso,symbol --percent-limit 1 --stdio 2>/dev/null \
    | grep '%' | head -30 > "$PERF/callbacks.txt"
fi
events=$(curl -s -H "$BENCH_AUTH" "http://127.0.0.1:$PORT/api/v1/jobs?limit=1" | head -c 80)
echo "state dir after the run: $(du -sh "$work/state" | cut -f1)"
