#!/usr/bin/env python3
"""A client of a tether server's edge, with Python `websockets` and `urllib`, for tether's
upgrade-hook and connection-limit tests.

    py_edge.py upgrade URL [HEADER=VALUE ...] [call=METHOD] [hold=N] [sources=IP,IP,...]
                   [wait_close=1] [late=SECONDS]
        Opens a WebSocket to URL sending the extra headers. If the server refuses the
        upgrade, reports its status, headers and body. If it opens: with call=METHOD, calls
        that JSON-RPC method (no params) and reports the reply (null if the connection
        closed first); else reports the first message the server sends. With wait_close=1
        it then waits for the server to close and reports the close code. With hold=N, it
        opens N connections one after the other (from the source addresses listed in
        `sources`, in turn), each kept open until the last has its outcome, and reports
        every outcome. With late=SECONDS, each connection is a TCP connection opened that
        long before the upgrade request is sent on it.
    py_edge.py get URL [method=HEAD]
        A plain HTTP request with urllib; reports status, headers and body.

Prints one JSON line, {"ok": true, ...} or {"ok": false, "error": WHY}, and exits 0 or 1.

TLS (wss:// and https://), from the environment, PEM file paths: PEER_TLS_CA to trust,
PEER_TLS_CERT and PEER_TLS_KEY for a client certificate.
"""

import asyncio
import json
import os
import socket
import ssl
import sys
import traceback
import urllib.error
import urllib.parse
import urllib.request

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

# Bound on every wait; a healthy run takes well under a second.
TIMEOUT = 20


def tls_context(url):
    if not url.startswith(("wss://", "https://")):
        return None
    context = ssl.create_default_context(cafile=os.environ.get("PEER_TLS_CA"))
    cert = os.environ.get("PEER_TLS_CERT")
    if cert:
        context.load_cert_chain(cert, os.environ["PEER_TLS_KEY"])
    return context


def parse_options(args):
    headers, options = [], {}
    for arg in args:
        name, _, value = arg.partition("=")
        if name in ("call", "hold", "late", "method", "sources", "wait_close"):
            options[name] = value
        else:
            headers.append((name, value))
    return headers, options


async def open_one(url, headers, options, source):
    """One connection's outcome, and the connection if it opened."""
    extra = {"local_addr": (source, 0)} if source else {}
    if "late" in options:
        if source:
            raise ValueError("late= opens its own socket: it cannot take sources=")
        # Connected now, asked later: the server's first read of it finds nothing.
        parsed = urllib.parse.urlsplit(url)
        sock = socket.create_connection((parsed.hostname, parsed.port), TIMEOUT)
        try:
            await asyncio.sleep(float(options["late"]))
        except BaseException:
            sock.close()
            raise
        extra = {"sock": sock}
    try:
        ws = await asyncio.wait_for(
            connect(
                url,
                additional_headers=headers,
                ssl=tls_context(url),
                ping_interval=None,
                **extra,
            ),
            TIMEOUT,
        )
    except InvalidStatus as e:
        response = e.response
        outcome = {
            "status": response.status_code,
            "headers": {k.lower(): v for k, v in response.headers.raw_items()},
            "body": response.body.decode("utf-8", "replace") if response.body else "",
        }
        return outcome, None
    outcome = {"status": 101}
    try:
        if "call" in options:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": options["call"]}))
            outcome["reply"] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        elif "hold" not in options:
            outcome["message"] = await asyncio.wait_for(ws.recv(), TIMEOUT)
    except ConnectionClosed:
        outcome["reply"] = None
    if options.get("wait_close"):
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        outcome["close_code"] = ws.close_code
        outcome["close_reason"] = ws.close_reason
    return outcome, ws


async def upgrade(url, args):
    """Opens `hold` connections one after the other (1 by default), keeping each open
    until the last has its outcome, so the server counts them all at once."""
    headers, options = parse_options(args)
    count = int(options.get("hold", "1"))
    sources = options["sources"].split(",") if "sources" in options else [None]
    outcomes, opened = [], []
    try:
        for i in range(count):
            outcome, ws = await open_one(url, headers, options, sources[i % len(sources)])
            outcomes.append(outcome)
            if ws is not None:
                opened.append(ws)
    finally:
        for ws in opened:
            await ws.close()
    return {"ok": True, "outcomes": outcomes}


def get(url, args):
    _, options = parse_options(args)
    request = urllib.request.Request(url, method=options.get("method", "GET"))
    context = tls_context(url)
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT, context=context)
    except urllib.error.HTTPError as e:
        response = e
    body = response.read().decode("utf-8", "replace")
    return {
        "ok": True,
        "status": response.status,
        "headers": {k.lower(): v for k, v in response.headers.items()},
        "body": body,
    }


def main():
    try:
        command, url, *args = sys.argv[1:]
        if command == "upgrade":
            result = asyncio.run(upgrade(url, args))
        elif command == "get":
            result = get(url, args)
        else:
            raise ValueError(f"unknown command {command!r}")
    except Exception as e:
        traceback.print_exc()
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
    print(json.dumps(result))


main()
