#!/usr/bin/env python3
"""From a job's push on instance A to its claim on instance B (bench/postgres.sh).

Serves the origin itself (tiny files, so B's transfers end at once and free its
workers), POSTs a JD v1.1 record_done per sample to A, notes when A's 200
arrived, waits until B's GET reaches the origin (so no sample is pushed while
B is still busy with the previous one: a busy worker claims the next job
without waiting for its poll), then pauses a random time, up to MAX_GAP_S.
Without NOTIFY the pause must span B's idle poll (5 s): B's workers last
looked when they claimed the previous sample, so a short pause would always
land early in their sleep. The claims themselves are read at the
end from the table the database's trigger fills (bench_claims: the job's
updated_at as B's claim wrote it, and B's instance id).

  push_to_claim.py A_PORT ORIGIN_PORT SAMPLES MAX_GAP_S TAG PSQL...
Prints one line of figures (ms), then any sample that went wrong.
"""
import http.client
import http.server
import json
import random
import subprocess
import sys
import threading
import time

a_port, origin_port, samples, max_gap, tag = (
    int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
psql = sys.argv[6:]
BODY = b"F" * 1024
got = {}  # path -> (time of B's first request, threading.Event)
lock = threading.Lock()


def seen(path):
    with lock:
        return got.setdefault(path, [None, threading.Event()])


class Origin(http.server.BaseHTTPRequestHandler):
    def answer(self, body):
        entry = seen(self.path.split("?")[0])
        if entry[0] is None:
            entry[0] = time.time()
            entry[1].set()
        self.send_response(200)
        self.send_header("content-type", "video/x-flv")
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        if body:
            self.wfile.write(BODY)

    def do_GET(self):
        self.answer(True)

    def do_HEAD(self):
        self.answer(False)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", origin_port), Origin)
threading.Thread(target=server.serve_forever, daemon=True).start()

conn = http.client.HTTPConnection("127.0.0.1", a_port, timeout=30)
pushed = []  # (job id, sent, 200 received, B's GET)
problems = []
for i in range(samples):
    path = f"/lat/{tag}-{i}.flv"
    body = json.dumps({
        "version": "v1.1", "publishDomain": "p", "appName": "live", "streamName": f"{tag}{i}",
        "event": "record_done", "status": "success",
        "downloadUrl": f"http://127.0.0.1:{origin_port}{path}"})
    sent = time.time()
    conn.request("POST", "/callbacks/bench?token=bench-token", body,
                 {"content-type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    answered = time.time()
    if r.status != 200:
        problems.append(f"sample {i}: A answered {r.status}: {data[:200]!r}")
        continue
    jobs = json.loads(data)["jobs"]
    entry = seen(path)
    if not entry[1].wait(15):
        problems.append(f"sample {i}: B did not fetch {path} within 15 s")
    pushed.append((str(jobs[0]), sent, answered, entry[0]))
    time.sleep(random.uniform(0, max_gap))

out = subprocess.run(psql + ["-AtF", " ", "-c",
                             "SELECT job_id, claimed_by, extract(epoch FROM updated_at) FROM bench_claims"],
                     check=True, capture_output=True, text=True).stdout
claims = {}
for line in out.splitlines():
    job, by, at = line.split(" ")
    claims.setdefault(job, []).append((float(at), by))

after_200, after_sent, get_after_claim, by_b = [], [], [], 0
for job, sent, answered, fetched in pushed:
    if job not in claims:
        problems.append(f"job {job}: no claim recorded")
        continue
    at, by = min(claims[job])
    by_b += by == "b"
    after_200.append((at - answered) * 1000)
    after_sent.append((at - sent) * 1000)
    if fetched is not None:
        get_after_claim.append((fetched - at) * 1000)


def rank(xs, q):  # nearest rank
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, int(-(-q * len(xs) // 1)) - 1))]


def fig(xs):
    if not xs:
        return "-"
    return (f"median {rank(xs, 0.5):.1f} p90 {rank(xs, 0.9):.1f} p99 {rank(xs, 0.99):.1f} "
            f"min {min(xs):.1f} max {max(xs):.1f}")


print(f"samples {len(after_200)} claimed-by-b {by_b} | claim-after-200 {fig(after_200)} "
      f"| claim-after-send {fig(after_sent)} | origin-GET-after-claim {fig(get_after_claim)}")
for p in problems:
    print("  problem:", p)
server.shutdown()
