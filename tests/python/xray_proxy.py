#!/usr/bin/env python3
"""A proxy in front of moto's X-Ray server for the import tests.

Usage: xray_proxy.py PORT MOTO_URL THROTTLE

- Answers the first THROTTLE requests 429 ThrottledException, as X-Ray
  does when a caller goes too fast (moto never throttles), and counts them
  on stdout ("throttled N").
- Fixes what moto gets wrong in GetTraceSummaries: it sends "Users" as an
  object where the API has a list, which strict clients (the AWS SDK for
  Rust) refuse to parse.
"""

import http.server
import json
import sys
import urllib.request

PORT, MOTO, THROTTLE = int(sys.argv[1]), sys.argv[2].rstrip("/"), int(sys.argv[3])
throttled = 0


class Proxy(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        global throttled
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if throttled < THROTTLE:
            throttled += 1
            print(f"throttled {throttled}", flush=True)
            answer = json.dumps({"message": "Rate exceeded"}).encode()
            self.send_response(429)
            self.send_header("x-amzn-ErrorType", "ThrottledException")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        request = urllib.request.Request(MOTO + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, payload = e.code, e.read()
        if self.path.startswith("/TraceSummaries") and status == 200:
            doc = json.loads(payload)
            for summary in doc.get("TraceSummaries", []):
                if isinstance(summary.get("Users"), dict):
                    summary["Users"] = []
            payload = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Proxy).serve_forever()
