#!/usr/bin/env python3
"""A small dmxd client: set channels and wait for the ack, or watch updates.

    python3 dmxd_client.py --url ws://127.0.0.1:8080/ws set 1=255 2=128
    python3 dmxd_client.py --url ws://127.0.0.1:8080/ws watch

Needs the websockets library (Debian: apt-get install python3-websockets;
elsewhere: pip install websockets). The protocol is docs/protocol.md; every
message has a JSON Schema in docs/schema/.

Exit status: 0 when dmxd acknowledged (set) or the requested messages were
printed (watch --count); 1 when dmxd refused the command or the connection
failed; 2 for a bad command line.
"""

import argparse
import asyncio
import json
import sys
import urllib.parse

import websockets


def parse_levels(pairs):
    """Turn ["1=255", "2=128"] into {"1": 255, "2": 128}."""
    levels = {}
    for pair in pairs:
        channel, sep, level = pair.partition("=")
        if not sep or not channel.isdigit() or not level.isdigit():
            raise argparse.ArgumentTypeError(f"{pair!r} is not CHANNEL=LEVEL, such as 1=255")
        levels[str(int(channel))] = int(level)
    return levels


def describe(msg):
    """One line for a server message a person wants to see, or None."""
    kind = msg.get("type")
    if kind == "update":
        changes = " ".join(f"{ch}={lv}" for ch, lv in sorted(msg["changes"].items(), key=lambda c: int(c[0])))
        return f"universe {msg['universe']}: {changes}"
    if kind == "blackout":
        return f"universe {msg['universe']}: blackout {'on' if msg['on'] else 'off'}"
    if kind == "output":
        why = f" ({msg['error']})" if "error" in msg else ""
        return f"universe {msg['universe']}: output {msg['driver']} {msg['state']}{why}"
    # state, ack, error are handled by the caller; clients ignore message
    # types they do not know (the protocol may add some).
    return None


async def connect(args):
    """Connect, read hello and the state of every universe."""
    url = args.url
    if args.token:
        sep = "&" if "?" in url else "?"
        url += sep + urllib.parse.urlencode({"token": args.token})
    ws = await websockets.connect(url)
    hello = json.loads(await ws.recv())
    if hello.get("type") != "hello":
        raise RuntimeError(f"first message is not hello: {hello}")
    universes = hello["universes"]
    print(f"connected to dmxd {hello['version']}: universes {universes}, {hello['rate']} Hz, {hello['merge']}", flush=True)
    if args.universe not in universes:
        await ws.close()
        raise RuntimeError(f"universe {args.universe} is not one of {universes}")
    waiting = set(universes)
    while waiting:
        msg = json.loads(await ws.recv())
        if msg.get("type") == "state":
            waiting.discard(msg["universe"])
            if msg["universe"] == args.universe:
                lit = sum(1 for v in msg["values"] if v)
                print(f"universe {args.universe}: {lit} channels above 0, blackout {'on' if msg['blackout'] else 'off'}", flush=True)
        elif (line := describe(msg)) is not None:
            print(line, flush=True)
    return ws


async def set_levels(args):
    ws = await connect(args)
    try:
        request_id = "set-1"
        await ws.send(json.dumps({"dmx": args.levels, "universe": args.universe, "id": request_id}))
        while True:
            msg = json.loads(await ws.recv())
            if msg.get("type") == "ack" and msg.get("id") == request_id:
                print("acknowledged", flush=True)
                return 0
            if msg.get("type") == "error" and msg.get("id") == request_id:
                print(f"dmxd refused the command: {msg['code']}: {msg['message']}", file=sys.stderr)
                return 1
            if msg.get("universe") == args.universe and (line := describe(msg)) is not None:
                print(line, flush=True)
    finally:
        await ws.close()


async def watch(args):
    ws = await connect(args)
    try:
        print(f"watching universe {args.universe} (Ctrl-C stops)", flush=True)
        printed = 0
        while args.count == 0 or printed < args.count:
            msg = json.loads(await ws.recv())
            if msg.get("universe") == args.universe and (line := describe(msg)) is not None:
                print(line, flush=True)
                printed += 1
        return 0
    finally:
        await ws.close()


def main():
    p = argparse.ArgumentParser(description="Set DMX channels on a dmxd server, or watch its updates.")
    p.add_argument("--url", default="ws://127.0.0.1:8080/ws", help="dmxd's WebSocket (default %(default)s)")
    p.add_argument("--universe", type=int, default=1, help="universe to set or watch (default 1)")
    p.add_argument("--token", default="", help="dmxd's --token, if it has one")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("set", help="set channels (CHANNEL=LEVEL ...) and wait for dmxd's ack")
    s.add_argument("levels", nargs="+", metavar="CHANNEL=LEVEL")
    w = sub.add_parser("watch", help="print updates, blackouts and output changes")
    w.add_argument("--count", type=int, default=0, help="exit after this many messages (default: never)")
    args = p.parse_args()
    if args.command == "set":
        try:
            args.levels = parse_levels(args.levels)
        except argparse.ArgumentTypeError as e:
            p.error(str(e))
    run = set_levels if args.command == "set" else watch
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
    except (OSError, RuntimeError, websockets.exceptions.WebSocketException) as e:
        print(f"dmxd_client: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
