#!/usr/bin/env python3
"""A raw JSON-RPC 2.0 client over Python `websockets`, for tether's RPC interop test.

    py_rpc_raw.py URL

Connects to a tether RPC server that serves `echo` (returns its params), `add` ([a, b] ->
a + b), `sleep` ({"ms": N} -> N, after N ms), `fail` (error 1000) and `note` (a method
meant for notifications), and sends hand-written JSON-RPC text: no JSON-RPC library is
involved, so every byte on the wire is one we chose and every reply is checked as it
arrives. The checks run in order on one connection, and each reads every message the
server sends: a reply that should not exist (to a notification, say) fails the next
check that reads, if not the check that looks for it.

Prints one JSON line, {"ok": true, "checks": [...], "notifications_sent": N} or
{"ok": false, "check": NAME, "error": WHY}, and exits 0 or 1 (the traceback on stderr).
"""

import asyncio
import json
import sys
import traceback

from websockets.asyncio.client import connect

# Bound on every single wait for a reply; the whole run takes well under a second.
TIMEOUT = 20
# How long to listen for a reply that must not come. Any stray reply also shows up at the
# next read, since every later check reads every message.
QUIET = 0.3


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


async def recv_json(ws):
    try:
        text = await asyncio.wait_for(ws.recv(), TIMEOUT)
    except asyncio.TimeoutError:
        raise Failure(f"no message within {TIMEOUT} s")
    check(isinstance(text, str), f"expected a text message, got {type(text).__name__}")
    try:
        return json.loads(text)
    except ValueError as e:
        raise Failure(f"the server sent text that is not JSON ({e}): {text!r}")


async def expect_silence(ws, why):
    try:
        extra = await asyncio.wait_for(ws.recv(), QUIET)
    except asyncio.TimeoutError:
        return
    raise Failure(f"{why}, yet the server sent {extra!r}")


def check_result(reply, id_, result):
    check(isinstance(reply, dict), f"expected one response object, got {reply!r}")
    check(reply.get("jsonrpc") == "2.0", f"jsonrpc is not \"2.0\": {reply!r}")
    check("id" in reply and reply["id"] == id_ and type(reply["id"]) is type(id_),
          f"expected id {id_!r}: {reply!r}")
    check("error" not in reply, f"expected a result, got an error: {reply!r}")
    check("result" in reply, f"no result: {reply!r}")
    check(reply["result"] == result, f"expected result {result!r}: {reply!r}")


def check_error(reply, id_, code):
    """An error response with `code` and `id_` (None for a null id, which must be present)."""
    check(isinstance(reply, dict), f"expected one response object, got {reply!r}")
    check(reply.get("jsonrpc") == "2.0", f"jsonrpc is not \"2.0\": {reply!r}")
    check("id" in reply, f"an error response must carry an id, null if unknown: {reply!r}")
    check(reply["id"] == id_ and type(reply["id"]) is type(id_), f"expected id {id_!r}: {reply!r}")
    check("result" not in reply, f"expected an error, got a result: {reply!r}")
    error = reply.get("error")
    check(isinstance(error, dict), f"no error object: {reply!r}")
    check(error.get("code") == code and type(error.get("code")) is int,
          f"expected error code {code}: {reply!r}")
    check(isinstance(error.get("message"), str), f"error message is not a string: {reply!r}")


async def call(ws, method, params, id_):
    await ws.send(json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": id_}))
    return await recv_json(ws)


# ---------------------------------------------------------------------------- checks

async def single_call(ws, state):
    check_result(await call(ws, "add", [2, 3], 1), 1, 5)
    # A string id and an object param come back unchanged.
    params = {"term": 7, "candidate": "node-3", "nested": [1, {"x": None}]}
    check_result(await call(ws, "echo", params, "s-1"), "s-1", params)


async def notification_gets_no_reply(ws, state):
    # Sent before a call on the same connection: the call's reply must be the only one.
    await ws.send(json.dumps({"jsonrpc": "2.0", "method": "note", "params": {"n": 1}}))
    state["notifications_sent"] += 1
    check_result(await call(ws, "echo", ["after the note"], 2), 2, ["after the note"])
    await expect_silence(ws, "a notification was sent")


async def notification_of_unknown_method_gets_no_reply(ws, state):
    # No -32601 either: a notification is never answered, even when it fails.
    await ws.send(json.dumps({"jsonrpc": "2.0", "method": "no-such-method", "params": []}))
    check_result(await call(ws, "add", [20, 22], 3), 3, 42)
    await expect_silence(ws, "a notification of an unknown method was sent")


async def batch(ws, state):
    # The sleep comes first so a server answering in completion order would reorder them;
    # the answer must be one array either way, matched here by id only.
    entries = [
        {"jsonrpc": "2.0", "method": "sleep", "params": {"ms": 30}, "id": 10},
        {"jsonrpc": "2.0", "method": "add", "params": [100, 23], "id": "b-11"},
        {"jsonrpc": "2.0", "method": "note", "params": {"n": 2}},
        {"jsonrpc": "2.0", "method": "echo", "params": {"in": "batch"}, "id": 12},
    ]
    await ws.send(json.dumps(entries))
    state["notifications_sent"] += 1
    reply = await recv_json(ws)
    check(isinstance(reply, list), f"a batch is answered with one array, got {reply!r}")
    check(len(reply) == 3, f"3 calls and 1 notification need 3 responses, got {reply!r}")
    by_id = {}
    for response in reply:
        check(isinstance(response, dict) and "id" in response, f"bad batch entry: {response!r}")
        key = json.dumps(response["id"])
        check(key not in by_id, f"id {response['id']!r} answered twice: {reply!r}")
        by_id[key] = response
    check_result(by_id.get("10"), 10, 30)
    check_result(by_id.get('"b-11"'), "b-11", 123)
    check_result(by_id.get("12"), 12, {"in": "batch"})
    await expect_silence(ws, "the batch was answered")


async def malformed_json(ws, state):
    await ws.send('{"jsonrpc": "2.0", "method": "echo", "params": [1, 2')
    check_error(await recv_json(ws), None, -32700)


async def invalid_request(ws, state):
    # JSON, but `method` is not a string. The id is readable, and PROTOCOL.md says tether
    # answers with it.
    await ws.send('{"jsonrpc": "2.0", "method": 1, "id": 7}')
    check_error(await recv_json(ws), 7, -32600)


async def unknown_method(ws, state):
    await ws.send('{"jsonrpc": "2.0", "method": "no-such-method", "params": [], "id": 8}')
    check_error(await recv_json(ws), 8, -32601)


async def application_error(ws, state):
    check_error(await call(ws, "fail", [], 9), 9, 1000)


async def empty_batch(ws, state):
    # The spec's answer to `[]` is a single error object, not an array.
    await ws.send("[]")
    check_error(await recv_json(ws), None, -32600)


async def still_works(ws, state):
    check_result(await call(ws, "add", [40, 2], 99), 99, 42)
    check_result(await call(ws, "sleep", {"ms": 1}, "last"), "last", 1)
    await expect_silence(ws, "every request was answered")


CHECKS = [
    single_call,
    notification_gets_no_reply,
    notification_of_unknown_method_gets_no_reply,
    batch,
    malformed_json,
    invalid_request,
    unknown_method,
    application_error,
    empty_batch,
    still_works,
]


async def main(url):
    state = {"notifications_sent": 0}
    passed = []
    current = "connect"
    try:
        async with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
            for step in CHECKS:
                current = step.__name__
                await step(ws, state)
                passed.append(current)
            current = "close"
            await ws.close()
    except Exception as e:  # noqa: BLE001 - every failure is reported the same way
        traceback.print_exc()
        print(json.dumps({"ok": False, "check": current, "passed": passed,
                          "error": f"{type(e).__name__}: {e}"}), flush=True)
        return 1
    print(json.dumps({"ok": True, "checks": passed,
                      "notifications_sent": state["notifications_sent"]}), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(sys.argv[1])))
