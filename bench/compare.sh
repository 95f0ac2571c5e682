#!/usr/bin/env bash
# Two builds of the daemon side by side in one run, e.g. the previous commit
# (A) against this one (B): the transfer benchmark (bench/transfer.sh, one
# file of MIB MiB from nginx into Garage) and the durable-callbacks benchmark
# (bench/callbacks.sh), each as A, B, A, B, ... for ROUNDS rounds (transfers
# first, then callbacks). Then a table:
# per figure and binary, the median and min–max over the rounds, and B's
# median against A's. Running it with A = B gives the run-to-run spread.
#   bench/compare.sh A-binary B-binary
#   e.g. bench/compare.sh /work/bench/bin/prev-recording-archiver target/release/recording-archiver
# Environment (defaults): A, B (the binaries, when not given as arguments),
# ROUNDS (3), MIB (1024), SERVER (garage), RCLONE (1: rclone copyurl and the
# curl floor after each transfer run, the machine's own control; 0: daemon
# only), CB_CONNS (64), CB_SECS (10, seconds per endpoint), OUT (where the raw
# outputs go; default a new dir under ${TMPDIR:-/tmp}).
# Builds nothing: both binaries are copied first, so a rebuild meanwhile does
# not change what runs. About 10 minutes with the defaults on 2 cores.
set -euo pipefail
A=${1:-${A:-}}
B=${2:-${B:-}}
if [ -z "$A" ] || [ -z "$B" ]; then
  sed -n '2,/^set -e/s/^# \{0,1\}//p' "$0" >&2
  exit 2
fi
for bin in "$A" "$B"; do
  [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }
done
A=$(realpath "$A") B=$(realpath "$B")
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
MIB=${MIB:-1024}
SERVER=${SERVER:-garage}
RCLONE=${RCLONE:-1}
CB_CONNS=${CB_CONNS:-64}
CB_SECS=${CB_SECS:-10}
OUT=${OUT:-$(mktemp -d -p "${TMPDIR:-/tmp}" compare.XXXX)}
mkdir -p "$OUT/bin"
cp "$A" "$OUT/bin/A"
cp "$B" "$OUT/bin/B"
bash bench/install-tools.sh $(case $SERVER in garage) echo --garage ;; s3s-fs) echo --s3 ;; esac)

values="$OUT/values.tsv" # figure, binary, round, value
: > "$values"
started=$(date +%s)
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A: $A (sha256 $(sha256sum "$OUT/bin/A" | cut -c1-12))"
echo "B: $B (sha256 $(sha256sum "$OUT/bin/B" | cut -c1-12))"
echo "rounds: $ROUNDS; transfer: $MIB MiB into $SERVER, default [transfer]; callbacks: wrk -t2 -c$CB_CONNS -d${CB_SECS}s per endpoint; raw outputs: $OUT"

put() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$values"; }
# wrk's latency (e.g. 850.00us, 4.19ms, 1.02s) in ms.
ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) printf "%.3f", v / 1000; else if (v ~ /ms$/) printf "%.3f", v + 0;
    else if (v ~ /m$/) printf "%.3f", v * 60000; else if (v ~ /s$/) printf "%.3f", v * 1000; else print v }'
}
load() { put "load (1 min, at the run's end)" "$1" "$2" "$(cut -d' ' -f1 /proc/loadavg)"; }

transfer() { # A|B, round
  local f="$OUT/transfer-$1-$2.txt" row
  ARCHIVER_BIN="$OUT/bin/$1" RCLONE=$RCLONE bash bench/transfer.sh "$MIB" 1 "$SERVER" > "$f" 2>&1 \
    || { echo "transfer.sh failed for $1 (round $2):" >&2; cat "$f" >&2; exit 1; }
  row=$(awk -v s="$SERVER" '$1 == s && $2 == 1' "$f")
  [ -n "$row" ] || { echo "no result row in $f" >&2; cat "$f" >&2; exit 1; }
  # server run archiver_s rss rclone_s rss floor_s ratio cpu(arch/srv)
  read -r _ _ d_wall d_rss r_wall _ floor _ cpu <<<"$row"
  put "transfer: archiver s" "$1" "$2" "$d_wall"
  put "transfer: archiver peak RSS MiB" "$1" "$2" "$d_rss"
  put "transfer: archiver CPU s" "$1" "$2" "${cpu%/*}"
  put "transfer: $SERVER CPU s" "$1" "$2" "${cpu#*/}"
  if [ "$RCLONE" != 0 ]; then
    put "transfer: rclone copyurl s (control)" "$1" "$2" "$r_wall"
    put "transfer: floor, curl PUT s (control)" "$1" "$2" "$floor"
  fi
  load "$1" "$2"
  printf '  transfer  %s round %s: %s s, %s MiB, CPU %s\n' "$1" "$2" "$d_wall" "$d_rss" "$cpu"
}

callbacks() { # A|B, round
  local f="$OUT/callbacks-$1-$2.txt" key line rps p50 p99 non2xx
  ARCHIVER_BIN="$OUT/bin/$1" bash bench/callbacks.sh "$CB_CONNS" "$CB_SECS" > "$f" 2>&1 \
    || { echo "callbacks.sh failed for $1 (round $2):" >&2; cat "$f" >&2; exit 1; }
  for key in healthz publish_started record_done; do
    line=$(grep 'req/s' "$f" | grep -F "$key" || true)
    [ -n "$line" ] || { echo "no $key line in $f" >&2; cat "$f" >&2; exit 1; }
    # ... <rps> req/s p50 <lat> p99 <lat> non-2xx <n>
    read -r rps p50 p99 non2xx < <(awk '{for (i = 1; i <= NF; i++) if ($i == "req/s") print $(i-1), $(i+2), $(i+4), $(i+6)}' <<<"$line")
    put "callbacks: $key req/s" "$1" "$2" "$rps"
    put "callbacks: $key p50 ms" "$1" "$2" "$(ms "$p50")"
    put "callbacks: $key p99 ms" "$1" "$2" "$(ms "$p99")"
    put "callbacks: $key non-2xx" "$1" "$2" "$non2xx"
  done
  load "$1" "$2"
  printf '  callbacks %s round %s: %s\n' "$1" "$2" \
    "$(grep 'req/s' "$f" | awk '{for (i = 1; i <= NF; i++) if ($i == "req/s") printf "%s/s ", $(i-1)}')"
}

# Each benchmark's runs in a row, A and B alternating, so that every run of A
# and of B follows a run of the same benchmark; `sync` first, so that no run
# pays for the previous one's writeback.
for round in $(seq "$ROUNDS"); do
  for who in A B; do sync; transfer "$who" "$round"; done
done
for round in $(seq "$ROUNDS"); do
  for who in A B; do sync; callbacks "$who" "$round"; done
done

took=$(( $(date +%s) - started ))
echo
echo "took ${took} s; load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "median (min-max) over $ROUNDS runs each; B/A: B's median over A's; spread: (max - min) / median."
echo "'worse than A's range': B's median is worse than A's worst run (slower, fewer req/s, higher latency)."
# Figures in the order first seen; for each, both binaries' stats.
awk -F'\t' '
  function stats(k,    n, i, j, t, a) {
    n = cnt[k]; for (i = 1; i <= n; i++) a[i] = v[k, i]
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    lo = a[1]; hi = a[n]; med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function fmt(x) { return (x == int(x) || x >= 1000) ? sprintf("%.0f", x) : (x >= 100 ? sprintf("%.1f", x) : sprintf("%.2f", x)) }
  function spread(m, l, h) { return (m != 0) ? sprintf("%.1f%%", 100 * (h - l) / m) : "-" }
  !($1 in seen) { seen[$1] = 1; order[++nf] = $1 }
  { k = $1 SUBSEP $2; v[k, ++cnt[k]] = $4 }
  END {
    printf "%-40s %-22s %-22s %7s %15s  %s\n", "figure", "A median (min-max)", "B median (min-max)", "B/A", "spread A / B", ""
    for (f = 1; f <= nf; f++) {
      name = order[f]
      stats(name SUBSEP "A"); am = med; alo = lo; ahi = hi
      stats(name SUBSEP "B"); bm = med; blo = lo; bhi = hi
      ratio = (am != 0) ? sprintf("%.3f", bm / am) : "-"
      note = ""
      higher_better = (name ~ /req\/s/)
      control = (name ~ /control|load|non-2xx|healthz|CPU s$/ && name !~ /archiver/)
      if (name ~ /non-2xx/) { if (bhi > 0 || ahi > 0) note = "non-2xx answers!" }
      else if (!control) {
        if (higher_better ? (bm < alo) : (bm > ahi)) note = "worse than A'"'"'s range"
      }
      printf "%-40s %-22s %-22s %7s %15s  %s\n", name, \
        fmt(am) " (" fmt(alo) "-" fmt(ahi) ")", fmt(bm) " (" fmt(blo) "-" fmt(bhi) ")", ratio, \
        spread(am, alo, ahi) " / " spread(bm, blo, bhi), note
    }
  }' "$values" | tee "$OUT/table.txt"
