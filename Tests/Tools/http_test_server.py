#!/usr/bin/env python3
"""An HTTP/1.1 server for the gateway's HTTP client tests, plain or TLS.

    http_test_server.py PORT MODE [CERT KEY]

MODE: length (Content-Length, kept alive), chunked (a chunked body), close (Connection: close),
drop (answers, then closes without saying so: the next request on that connection finds it
gone), silent (reads the request, never answers). Each answer is 201 with
{"n": <requests so far>, "length": <body bytes>, "path": <path>, "tenant": <NGSILD-Tenant>};
a path ending in /fail is answered 500 (same body); one ending in /vanish closes the connection
unanswered.
"""
import json
import socket
import ssl
import sys
import threading

port, mode = int(sys.argv[1]), sys.argv[2]
context = None
if len(sys.argv) > 4:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[3], sys.argv[4])
count = 0
lock = threading.Lock()


def read_request(stream):
    head = b""
    while b"\r\n\r\n" not in head:
        data = stream.recv(1)
        if not data:
            return None
        head += data
    lines = head.decode().split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    length = int(headers.get("content-length", "0"))
    body = b""
    while len(body) < length:
        data = stream.recv(length - len(body))
        if not data:
            return None
        body += data
    return path, headers, body


def serve(connection):
    global count
    try:
        stream = context.wrap_socket(connection, server_side=True) if context else connection
    except (ssl.SSLError, OSError):
        connection.close()
        return
    try:
        while True:
            request = read_request(stream)
            if request is None:
                return
            path, headers, body = request
            with lock:
                count += 1
                n = count
            if mode == "silent":
                threading.Event().wait(3600)
            if path.endswith("/vanish"):
                return
            payload = json.dumps({"n": n, "length": len(body), "path": path, "tenant": headers.get("ngsild-tenant")}).encode()
            if mode == "chunked":
                half = len(payload) // 2
                chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (payload[:half], payload[half:])) + b"0\r\n\r\n"
                stream.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
            else:
                extra = b"Connection: close\r\n" if mode == "close" else b""
                status = b"500 Internal Server Error" if path.endswith("/fail") else b"201 Created"
                stream.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (len(payload), extra, payload))
            if mode in ("close", "drop"):
                return
    except (OSError, ssl.SSLError):
        return
    finally:
        try:
            stream.close()
        except OSError:
            pass


listener = socket.create_server(("127.0.0.1", port))
while True:
    accepted, _ = listener.accept()
    threading.Thread(target=serve, args=(accepted,), daemon=True).start()
