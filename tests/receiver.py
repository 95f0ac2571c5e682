"""A team's notification endpoint, as a test sees it.

Verifies every request with the `standardwebhooks` library (not the
daemon's code), answers 500 to its first FAIL requests, and for each
`archived` notification reads the object from the S3 server (boto3) and
checks its SHA-256 there and then. Each request is one JSON line in LOG.

    receiver.py PORT SECRET LOG FAIL [S3_ENDPOINT ACCESS_KEY SECRET_KEY]
"""

import hashlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

port, secret, log_path, fail = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
endpoint = sys.argv[5] if len(sys.argv) > 5 else None
hook = Webhook(secret)
lock = threading.Lock()
seen = {"n": 0}
s3 = None
if endpoint:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=sys.argv[6],
        aws_secret_access_key=sys.argv[7],
    )


def in_bucket(entry):
    """The SHA-256 of the object the entry names, read from the S3 server now."""
    store = entry.get("store", {})
    try:
        body = s3.get_object(Bucket=store["bucket"], Key=store["key"])["Body"].read()
        return hashlib.sha256(body).hexdigest()
    except Exception as e:  # noqa: BLE001 - logged for the test to see
        return f"unreadable: {e}"


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        with lock:
            seen["n"] += 1
            n = seen["n"]
        record = {"n": n, "id": self.headers.get("webhook-id")}
        if n <= fail:
            record["answer"] = 500
        else:
            try:
                payload = hook.verify(body, dict(self.headers))
                record["answer"] = 200
                record["type"] = payload.get("type")
                record["payload"] = payload
                if s3 is not None and payload.get("type") == "archived":
                    record["sha256_in_bucket"] = in_bucket(payload)
            except Exception as e:  # noqa: BLE001
                record["answer"] = 400
                record["error"] = str(e)
        with lock, open(log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(record["answer"])
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
print("listening", flush=True)
server.serve_forever()
