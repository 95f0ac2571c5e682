#!/usr/bin/env bash
# The PostgreSQL engine (issue 24), in one run: durable record_done callbacks
# per second and their p99 on the embedded store (sled), on PostgreSQL with
# one instance and with two (wrk against each at once, rates summed), then the
# time from a job's push on instance A to its claim on instance B, with
# LISTEN/NOTIFY and without it (B's 5 s idle poll alone). Then a table.
#   bench/postgres.sh [release-binary]
#   (default: target/release/recording-archiver; copied first, so that a
#   rebuild meanwhile does not change what runs)
# Environment (defaults): ROUNDS (3: sled, pg x1, pg x2 alternating),
# CONNS (64 in all; 32 against each instance of two), SECS (10 per run),
# SAMPLES (200 pushes with NOTIFY), POLL_SAMPLES (60 without), PGBIN
# (/usr/lib/postgresql/15/bin), CB_TOML (added to the callback runs'
# config, e.g. $'[transfer]\nworkers = 0' for ingest alone), LATENCY (1; 0
# skips push-to-claim), CB_NO_NOTIFY (0; 1 shadows pg_notify in the
# callback runs' databases too, as push-to-claim's run without NOTIFY does:
# shows what NOTIFY's commit-time lock costs the callbacks).
# The cluster: Debian's PostgreSQL 15, initdb and the server as the
# `postgres` user in a temporary directory, on 127.0.0.1, with the defaults
# of a production server that matter here: fsync on, synchronous_commit on.
# A fresh database per run. Everything shares this machine's cores.
set -euo pipefail
BIN=${1:-target/release/recording-archiver}
[ -x "$BIN" ] || { echo "not an executable: $BIN (build with cargo build --release)" >&2; exit 2; }
BIN=$(realpath "$BIN")
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
SECS=${SECS:-10}
SAMPLES=${SAMPLES:-200}
POLL_SAMPLES=${POLL_SAMPLES:-60}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG=18150 A_PORT=18151 B_PORT=18152 WEB=18153
bash bench/install-tools.sh >/dev/null
source bench/lib.sh
mkdir -p "$work/bin"
cp "$BIN" "$work/bin/recording-archiver"
ARCHIVER_BIN=$work/bin/recording-archiver

# The cluster, stopped at exit before lib.sh's cleanup.
chmod a+rx "$work"
mkdir "$work/pg"
chown postgres: "$work/pg"
as_pg() { runuser -u postgres -- "$@"; }
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true; }
trap 'pg_stop; bench_cleanup' EXIT
as_pg "$PGBIN/initdb" -D "$work/pg/data" -U postgres --auth=trust -E UTF8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
  -o "-p $PG -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null
psql_in() { local db=$1; shift; psql -h 127.0.0.1 -p "$PG" -U postgres -d "$db" -v ON_ERROR_STOP=1 -Atq "$@"; }
dbn=0
new_db() { dbn=$((dbn + 1)); db=bench$dbn; psql_in postgres -c "CREATE DATABASE $db"; }
# pg_notify a no-op in database $1 (search_path puts public before pg_catalog).
shadow_notify() {
  psql_in "$1" -c 'CREATE FUNCTION public.pg_notify(text, text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN END $$' \
    -c "ALTER DATABASE $1 SET search_path = public, pg_catalog"
}

# A daemon's config: file, port, instance id, state url ("" = sled), extra
# TOML (inside [[sources]] first, then tables).
daemon_conf() {
  cat > "$1" <<TOML
instance_id = "$3"
[server]
listen = "127.0.0.1:$2"
[api]
token = "$BENCH_API_TOKEN"
[state]
dir = "$work/state-$3"
${4:+url = \"$4\"}
[store]
type = "fs"
root = "$work/archive-$3"
[[sources]]
name = "bench"
provider = "jdcloud"
token = "bench-token"
${5:-}
TOML
}
running=()
start() { # instance id, port, state url, extra TOML
  rm -rf "$work/state-$1" "$work/archive-$1"
  daemon_conf "$work/$1.toml" "$2" "$1" "$3" "${4:-}"
  RUST_LOG=warn "$ARCHIVER_BIN" serve --config "$work/$1.toml" 2>"$work/$1.log" &
  pids+=($!) running+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && return 0; sleep 0.05; done
  echo "instance $1 is not ready:" >&2; cat "$work/$1.log" >&2; curl -s "http://127.0.0.1:$2/readyz" >&2; return 1
}
stop_all() {
  for p in "${running[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  running=()
}

cb_desc="workers on (default [transfer])"
[ -z "${CB_TOML:-}" ] || cb_desc="config added: $(tr '\n' ' ' <<<"$CB_TOML")"
[ "${CB_NO_NOTIFY:-0}" = 0 ] || cb_desc="$cb_desc; pg_notify shadowed by a no-op (no NOTIFY)"
machine
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binary: $BIN (sha256 $(sha256sum "$ARCHIVER_BIN" | cut -c1-12))"
echo "PostgreSQL: $("$PGBIN/postgres" --version | awk '{print $3}'); fsync $(psql_in postgres -c 'SHOW fsync')," \
  "synchronous_commit $(psql_in postgres -c 'SHOW synchronous_commit'), wal_sync_method $(psql_in postgres -c 'SHOW wal_sync_method')," \
  "shared_buffers $(psql_in postgres -c 'SHOW shared_buffers'); [state] pool_size default (16)"
echo "callbacks: POST record_done (bench/record_done.lua: event + job, unique URLs), wrk -c$CONNS in all, ${SECS} s a run," \
  "$ROUNDS rounds; $cb_desc; two instances: wrk -t1 -c$((CONNS / 2)) against each at once"

values="$work/values.tsv" # figure, round, value
: > "$values"
put() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$values"; }
ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) printf "%.3f", v / 1000; else if (v ~ /ms$/) printf "%.3f", v + 0;
    else if (v ~ /m$/) printf "%.3f", v * 60000; else if (v ~ /s$/) printf "%.3f", v * 1000; else print v }'
}
# record_done.lua with its own URLs per instance (two wrk runs must not be one
# another's duplicates).
for who in a b; do
  sed -e "s|path_with_token|\"/callbacks/bench?token=bench-token\"|" -e "s|/rec/|/rec-$who/|" \
    bench/record_done.lua > "$work/record_done-$who.lua"
done
wrk_run() { # out file, port, threads, connections, instance
  wrk -t"$3" -c"$4" -d"${SECS}s" --latency -s "$work/record_done-$5.lua" "http://127.0.0.1:$2/" > "$1"
}
# rps p99 requests non2xx of one wrk output.
wrk_figs() {
  awk '/Requests\/sec/ {r = $2} $1 == "99%" {p = $2} /requests in/ {n = $1} /Non-2xx/ {e = $NF}
       END {print r, p, n, (e == "" ? 0 : e)}' "$1"
}
jobs_in() { psql_in "$1" -c 'SELECT count(*) FROM jobs'; }

cb_run() { # name, round, instances (0 = sled), database
  local name=$1 round=$2 n=$3 rps p99 reqs bad
  [ "$n" = 0 ] || [ "${CB_NO_NOTIFY:-0}" = 0 ] || shadow_notify "$4"
  sync
  if [ "$n" = 0 ]; then
    start a "$A_PORT" "" "${CB_TOML:-}"
    wrk_run "$work/wrk-$name-$round-a.txt" "$A_PORT" 2 "$CONNS" a
    read -r rps p99 reqs bad < <(wrk_figs "$work/wrk-$name-$round-a.txt")
    p99=$(ms "$p99")
  elif [ "$n" = 1 ]; then
    start a "$A_PORT" "postgres://postgres@127.0.0.1:$PG/$4" "${CB_TOML:-}"
    wrk_run "$work/wrk-$name-$round-a.txt" "$A_PORT" 2 "$CONNS" a
    read -r rps p99 reqs bad < <(wrk_figs "$work/wrk-$name-$round-a.txt")
    p99=$(ms "$p99")
  else
    start a "$A_PORT" "postgres://postgres@127.0.0.1:$PG/$4" "${CB_TOML:-}"
    start b "$B_PORT" "postgres://postgres@127.0.0.1:$PG/$4" "${CB_TOML:-}"
    wrk_run "$work/wrk-$name-$round-a.txt" "$A_PORT" 1 $((CONNS / 2)) a &
    local w=$!
    wrk_run "$work/wrk-$name-$round-b.txt" "$B_PORT" 1 $((CONNS / 2)) b
    wait "$w"
    local r1 p1 n1 e1 r2 p2 n2 e2
    read -r r1 p1 n1 e1 < <(wrk_figs "$work/wrk-$name-$round-a.txt")
    read -r r2 p2 n2 e2 < <(wrk_figs "$work/wrk-$name-$round-b.txt")
    rps=$(awk -v a="$r1" -v b="$r2" 'BEGIN {printf "%.2f", a + b}')
    p1=$(ms "$p1") p2=$(ms "$p2")
    p99=$(awk -v a="$p1" -v b="$p2" 'BEGIN {print (a > b ? a : b)}')
    reqs=$((n1 + n2)) bad=$((e1 + e2))
    put "$name: p99 ms, instance a" "$round" "$p1"
    put "$name: p99 ms, instance b" "$round" "$p2"
  fi
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  stop_all
  put "$name: req/s" "$round" "$rps"
  put "$name: p99 ms" "$round" "$p99"
  put "$name: non-2xx" "$round" "$bad"
  put "load (1 min) after $name" "$round" "$load"
  local durable=""
  if [ "$n" != 0 ]; then
    # Every answered callback made a job: the database holds at least as
    # many as wrk saw answers (requests cut at the run's end may add a few).
    local jobs; jobs=$(jobs_in "$4")
    durable="; jobs in the database: $jobs for $((reqs - bad)) 200s"
    [ "$jobs" -ge $((reqs - bad)) ] || durable="$durable: FEWER JOBS THAN 200s"
  fi
  printf '  %-24s round %s: %10s req/s  p99 %8s ms  non-2xx %s%s\n' "$name" "$round" "$rps" "$p99" "$bad" "$durable"
}

for round in $(seq "$ROUNDS"); do
  cb_run "sled (embedded)" "$round" 0
  new_db; cb_run "postgres, 1 instance" "$round" 1 "$db"
  new_db; cb_run "postgres, 2 instances" "$round" 2 "$db"
done

# Push on A ([transfer] workers = 0: only B claims files), claim on B. A
# trigger notes each claim as B's transaction writes it. Without NOTIFY: the
# database's pg_notify is shadowed by a no-op (search_path puts public first),
# so B's idle workers find the job at their next poll; there the pause
# between samples is uniform over 0-5 s, B's idle poll, so that pushes land
# at random points of it.
latency() { # label, samples, max gap s, notify (1|0)
  new_db
  [ "$4" = 1 ] || shadow_notify "$db"
  local url="postgres://postgres@127.0.0.1:$PG/$db"
  start a "$A_PORT" "$url" $'allow_hosts = ["127.0.0.1"]\n[transfer]\nworkers = 0'
  psql_in "$db" <<'SQL'
CREATE TABLE bench_claims (job_id text, claimed_by text, updated_at timestamptz, at timestamptz);
CREATE FUNCTION bench_claim() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO bench_claims VALUES (NEW.job->>'id', NEW.claimed_by, NEW.updated_at, clock_timestamp());
  RETURN NEW;
END $$;
CREATE TRIGGER bench_claim AFTER UPDATE ON jobs FOR EACH ROW
  WHEN (NEW.claimed_by IS NOT NULL AND OLD.claimed_by IS NULL) EXECUTE FUNCTION bench_claim();
SQL
  start b "$B_PORT" "$url" $'allow_hosts = ["127.0.0.1"]'
  sleep 1 # B's workers idle, its LISTEN connection made
  local line
  line=$(python3 bench/push_to_claim.py "$A_PORT" "$WEB" "$2" "$3" "$1" \
    psql -h 127.0.0.1 -p "$PG" -U postgres -d "$db")
  stop_all
  echo "  push to claim, $1: $line"
  local f
  f=$(head -1 <<<"$line")
  put "push->claim, $1: samples" 1 "$(awk '{print $2}' <<<"$f")"
  put "push->claim, $1: median ms (claim - A's 200)" 1 "$(sed 's/.*claim-after-200 median \([-0-9.]*\).*/\1/' <<<"$f")"
  put "push->claim, $1: p99 ms (claim - A's 200)" 1 "$(sed 's/.*claim-after-200 median [-0-9.]* p90 [-0-9.]* p99 \([-0-9.]*\).*/\1/' <<<"$f")"
  put "push->claim, $1: max ms (claim - A's 200)" 1 "$(sed 's/.*claim-after-200 median.* max \([-0-9.]*\) | claim-after-send.*/\1/' <<<"$f")"
}
if [ "${LATENCY:-1}" != 0 ]; then
  latency notify "$SAMPLES" 0.3 1
  latency poll "$POLL_SAMPLES" 5 0
fi

echo
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "median (min-max) over the rounds; spread: (max - min) / median"
awk -F'\t' '
  function fmt(x) { return (x == int(x) || x >= 1000 || x <= -1000) ? sprintf("%.0f", x) : sprintf("%.2f", x) }
  !($1 in seen) { seen[$1] = 1; order[++nf] = $1 }
  { v[$1, ++cnt[$1]] = $3 }
  END {
    printf "%-52s %-26s %s\n", "figure", "median (min-max)", "spread"
    for (f = 1; f <= nf; f++) {
      k = order[f]; n = cnt[k]
      for (i = 1; i <= n; i++) a[i] = v[k, i]
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      printf "%-52s %-26s %s\n", k, (n > 1 ? fmt(med) " (" fmt(a[1]) "-" fmt(a[n]) ")" : fmt(med)), \
        (n > 1 && med != 0 ? sprintf("%.1f%%", 100 * (a[n] - a[1]) / med) : "")
    }
  }' "$values" | tee "$work/table.txt"
