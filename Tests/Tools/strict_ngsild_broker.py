#!/usr/bin/env python3
"""A strict NGSI-LD broker for the gateway's tests: refuses a whole upsert request with 400 as soon
as one entity in it has a negative waterLevel (as some platforms validate a batch as a whole), and
otherwise takes it (201), appending one line per entity to ACCEPTED.

    strict_ngsild_broker.py PORT ACCEPTED
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, accepted = int(sys.argv[1]), sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if not self.path.startswith("/ngsi-ld/v1/entityOperations/upsert"):
            return self.answer(404, {"type": "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound", "title": "no such route"})
        entities = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        bad = [e["id"] for e in entities if e.get("waterLevel", {}).get("value", 0) < 0]
        if bad:
            return self.answer(400, {
                "type": "https://uri.etsi.org/ngsi-ld/errors/BadRequestData",
                "title": "BadRequestData",
                "detail": f"waterLevel must not be negative ({bad[0]})",
            })
        with open(accepted, "a") as out:
            for e in entities:
                out.write(json.dumps({"id": e["id"], "at": e["waterLevel"]["observedAt"], "value": e["waterLevel"]["value"]}) + "\n")
        self.answer(201, [e["id"] for e in entities])

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
