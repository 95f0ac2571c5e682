#!/usr/bin/env bash
# How long the overview (/ui/) and the streams page take to render on a
# catalog of N archived recordings (sled, a directory store, an HTTP origin
# on this machine). Usage: bench/overview.sh BINARY [N=20000]
set -euo pipefail
bin=$(realpath "$1"); n=${2:-20000}
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/www"; head -c 2048 /dev/urandom > "$work/www/a.flv"
port=$((20000 + RANDOM % 20000)); oport=$((port + 1))
(cd "$work/www" && python3 -m http.server "$oport" --bind 127.0.0.1 >/dev/null 2>&1) &
cat > "$work/config.toml" <<CONF
[server]
listen = "127.0.0.1:$port"
[state]
dir = "$work/state"
[store]
root = "$work/archive"
[api]
token = "bench"
[[sources]]
name = "jd"
provider = "jdcloud"
token = "t"
allow_hosts = ["127.0.0.1"]
CONF
"$bin" serve --config "$work/config.toml" >"$work/log" 2>&1 &
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.2; done
python3 - "$port" "$oport" "$n" <<'PY'
import json, sys, time, urllib.request, concurrent.futures as cf
port, oport, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
now = int(time.time() * 1000)
def post(i):
    body = json.dumps({"version": "v1.1", "publishDomain": "d", "appName": "live",
        "streamName": f"room{i % 200}", "event": "record_done", "status": "success",
        "format": "flv", "beginTime": now - 3_600_000 * (i % 150) - i * 1000, "endTime": now - 3_600_000 * (i % 150) - i * 1000 + 60_000,
        "downloadUrl": f"http://127.0.0.1:{oport}/a.flv?n={i}"}).encode()
    r = urllib.request.Request(f"http://127.0.0.1:{port}/callbacks/jd?token=t", body,
        {"content-type": "application/json"})
    urllib.request.urlopen(r).read()
with cf.ThreadPoolExecutor(16) as ex:
    list(ex.map(post, range(n)))
PY
echo "posted $n callbacks; waiting for the archive"
while :; do
  left=$(curl -s -H 'authorization: Bearer bench' "http://127.0.0.1:$port/metrics" \
    | awk '/^recording_archiver_jobs\{.*state="(queued|running|retrying)"/ {s+=$2} END {print s+0}')
  [ "$left" = 0 ] && break; sleep 2
done
echo "archived: $(find "$work/archive" -name '*.flv' | wc -l) files"
for page in /ui/ /ui/streams /ui/recordings /ui/jobs; do
  for i in 1 2 3; do
    curl -s -o /dev/null -w "$page %{http_code} %{time_total}s %{size_download} bytes\n" \
      -H 'authorization: Bearer bench' -H 'accept: text/html' "http://127.0.0.1:$port$page"
  done
done
echo "daemon RSS: $(ps -o rss= -p $(pgrep -f "serve --config $work/config.toml" | head -1)) KiB"
