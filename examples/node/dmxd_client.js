#!/usr/bin/env node
// A small dmxd client: set channels and wait for the ack, or watch updates.
//
//   npm ci --prefix examples/node
//   node examples/node/dmxd_client.js --url ws://127.0.0.1:8080/ws set 1=255 2=128
//   node examples/node/dmxd_client.js --url ws://127.0.0.1:8080/ws watch
//
// The protocol is docs/protocol.md; every message has a JSON Schema in
// docs/schema/. Exit status: 0 when dmxd acknowledged (set) or the requested
// messages were printed (watch --count); 1 when dmxd refused the command or
// the connection failed; 2 for a bad command line.

import { parseArgs } from "node:util";
import WebSocket from "ws";

const usage = `usage: dmxd_client.js [--url URL] [--universe N] [--token SECRET] set CHANNEL=LEVEL...
       dmxd_client.js [--url URL] [--universe N] [--token SECRET] watch [--count N]`;

function fail(status, text) {
  process.stderr.write(`dmxd_client: ${text}\n`);
  process.exit(status);
}

// parseLevels turns ["1=255", "2=128"] into {"1": 255, "2": 128}.
function parseLevels(pairs) {
  const levels = {};
  for (const pair of pairs) {
    const m = /^(\d+)=(\d+)$/.exec(pair);
    if (!m) fail(2, `${JSON.stringify(pair)} is not CHANNEL=LEVEL, such as 1=255\n${usage}`);
    levels[String(Number(m[1]))] = Number(m[2]);
  }
  return levels;
}

// describe returns one line for a server message a person wants to see, or
// null. Clients ignore message types they do not know (the protocol may add
// some); state, ack and error are handled by the caller.
function describe(msg) {
  switch (msg.type) {
    case "update": {
      const changes = Object.entries(msg.changes)
        .sort((a, b) => Number(a[0]) - Number(b[0]))
        .map(([ch, lv]) => `${ch}=${lv}`)
        .join(" ");
      return `universe ${msg.universe}: ${changes}`;
    }
    case "blackout":
      return `universe ${msg.universe}: blackout ${msg.on ? "on" : "off"}`;
    case "output":
      return `universe ${msg.universe}: output ${msg.driver} ${msg.state}${msg.error ? ` (${msg.error})` : ""}`;
    default:
      return null;
  }
}

// Client reads a dmxd connection: hello, then the state of every universe,
// then hands each further message to onMessage.
class Client {
  constructor(url, universe) {
    this.universe = universe;
    this.ws = new WebSocket(url);
    this.waiting = null; // universes whose first state has not come yet
    this.onReady = () => {};
    this.onMessage = () => {};
    this.ws.on("message", (data, isBinary) => {
      if (!isBinary) this.receive(JSON.parse(data.toString("utf8")));
    });
    this.ws.on("error", (err) => fail(1, err.message));
    this.ws.on("close", (code) => fail(1, `connection closed (${code})`));
  }

  receive(msg) {
    if (this.waiting === null) {
      if (msg.type !== "hello") fail(1, `first message is not hello: ${JSON.stringify(msg)}`);
      console.log(`connected to dmxd ${msg.version}: universes [${msg.universes.join(", ")}], ${msg.rate} Hz, ${msg.merge}`);
      if (!msg.universes.includes(this.universe)) {
        fail(1, `universe ${this.universe} is not one of [${msg.universes.join(", ")}]`);
      }
      this.waiting = new Set(msg.universes);
      return;
    }
    if (this.waiting.size > 0) {
      if (msg.type === "state") {
        this.waiting.delete(msg.universe);
        if (msg.universe === this.universe) {
          const lit = msg.values.filter((v) => v > 0).length;
          console.log(`universe ${msg.universe}: ${lit} channels above 0, blackout ${msg.blackout ? "on" : "off"}`);
        }
        if (this.waiting.size === 0) this.onReady();
      } else {
        const line = describe(msg);
        if (line !== null) console.log(line);
      }
      return;
    }
    this.onMessage(msg);
  }

  // finish closes the connection cleanly and exits with status.
  finish(status) {
    this.onMessage = () => {};
    this.ws.removeAllListeners("close");
    this.ws.on("close", () => process.exit(status));
    this.ws.close(1000);
  }
}

function main() {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        url: { type: "string", default: "ws://127.0.0.1:8080/ws" },
        universe: { type: "string", default: "1" },
        token: { type: "string", default: "" },
        count: { type: "string", default: "0" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    fail(2, `${err.message}\n${usage}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const [command, ...rest] = positionals;
  const universe = Number(values.universe);
  const count = Number(values.count);
  if (!Number.isInteger(universe) || !Number.isInteger(count)) fail(2, `--universe and --count take integers\n${usage}`);
  let url = values.url;
  if (values.token) url += (url.includes("?") ? "&" : "?") + new URLSearchParams({ token: values.token });

  if (command === "set" && rest.length > 0) {
    const levels = parseLevels(rest);
    const client = new Client(url, universe);
    const id = "set-1";
    client.onReady = () => client.ws.send(JSON.stringify({ dmx: levels, universe, id }));
    client.onMessage = (msg) => {
      if (msg.type === "ack" && msg.id === id) {
        console.log("acknowledged");
        client.finish(0);
      } else if (msg.type === "error" && msg.id === id) {
        process.stderr.write(`dmxd refused the command: ${msg.code}: ${msg.message}\n`);
        client.finish(1);
      } else if (msg.universe === universe) {
        const line = describe(msg);
        if (line !== null) console.log(line);
      }
    };
  } else if (command === "watch" && rest.length === 0) {
    const client = new Client(url, universe);
    let printed = 0;
    client.onReady = () => console.log(`watching universe ${universe} (Ctrl-C stops)`);
    client.onMessage = (msg) => {
      const line = msg.universe === universe ? describe(msg) : null;
      if (line === null) return;
      console.log(line);
      printed++;
      if (count > 0 && printed >= count) client.finish(0);
    };
  } else {
    fail(2, usage);
  }
}

main();
