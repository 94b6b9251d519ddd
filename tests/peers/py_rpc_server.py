#!/usr/bin/env python3
"""A JSON-RPC 2.0 server over Python `websockets` (asyncio API), for tether's session tests:
a server in a process of its own, which a test can kill -9 and start again on the same port.

    py_rpc_server.py HOST:PORT      port 0 picks a free one

Prints `listening on ws://HOST:PORT` once ready. Then, for every JSON-RPC message it reads,
one JSON line *before* handling it, flushed at once so a kill loses none that was printed:

    {"seen": "call", "method": M, "params": P}      a request (it has an id)
    {"seen": "notify", "method": M, "params": P}    a notification

The lines follow the order the messages arrived in on each connection. Methods, handled
concurrently (a slow one holds up nobody):

    echo   returns its params
    add    [a, b] -> a + b
    sleep  {"ms": N, ...} -> N, after N ms
    note   -> null (meant for notifications)
    burst  {"count": N, "pad": P} -> N, after sending N notifications `tick` with params
           {"n": 0 .. N-1, "pad": "x" * P} (P defaults to 0), in that order, each send
           awaited (a client that stops reading holds this call back)

Anything else is answered -32601. The upgrade request path `/reject?status=N` is refused
with HTTP status N. JSON-RPC is written by hand (no JSON-RPC library), like
`py_rpc_raw.py`. Exits when its stdin closes, so a test that dies leaves no orphan.
"""

import asyncio
import json
import os
import sys
import threading
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


def line(record):
    print(json.dumps(record), flush=True)


async def run_method(ws, method, params):
    """The result of a call, or a JSON-RPC error object as ("error", obj)."""
    if method == "burst":
        pad = "x" * params.get("pad", 0)
        for n in range(params["count"]):
            tick = {"jsonrpc": "2.0", "method": "tick", "params": {"n": n, "pad": pad}}
            await ws.send(json.dumps(tick))
        return params["count"]
    if method == "echo":
        return params
    if method == "add":
        return params[0] + params[1]
    if method == "sleep":
        await asyncio.sleep(params["ms"] / 1000)
        return params["ms"]
    if method == "note":
        return None
    return ("error", {"code": -32601, "message": "Method not found"})


async def answer(ws, request):
    try:
        result = await run_method(ws, request["method"], request.get("params"))
    except ConnectionClosed:
        return
    except Exception as e:  # noqa: BLE001 - bad params become an error answer
        result = ("error", {"code": -32602, "message": f"Invalid params: {e}"})
    if isinstance(result, tuple):
        reply = {"jsonrpc": "2.0", "id": request["id"], "error": result[1]}
    else:
        reply = {"jsonrpc": "2.0", "id": request["id"], "result": result}
    try:
        await ws.send(json.dumps(reply))
    except ConnectionClosed:
        pass


async def handler(ws):
    tasks = set()
    try:
        async for text in ws:
            message = json.loads(text)
            for request in message if isinstance(message, list) else [message]:
                kind = "call" if "id" in request else "notify"
                line({"seen": kind, "method": request.get("method"), "params": request.get("params")})
                if kind == "call":
                    task = asyncio.create_task(answer(ws, request))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
    except ConnectionClosed:
        pass


def process_request(connection, request):
    url = urlsplit(request.path)
    if url.path == "/reject":
        status = int(parse_qs(url.query).get("status", ["403"])[0])
        return connection.respond(HTTPStatus(status), "refused by the test server\n")
    return None


def exit_when_stdin_closes():
    """The test holds our stdin; when it goes away (even killed), so do we."""
    sys.stdin.read()
    sys.stdout.flush()
    os._exit(0)


async def main(addr):
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    host, port = addr.rsplit(":", 1)
    # asyncio sets SO_REUSEADDR, so a restart can bind the port of a killed server at once.
    async with serve(handler, host, int(port), process_request=process_request,
                     ping_interval=None) as server:
        host, port = server.sockets[0].getsockname()[:2]
        print(f"listening on ws://{host}:{port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(sys.argv[1]))
