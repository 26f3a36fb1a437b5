// Cube's JavaScript client over its WebSocket transport
// (@cubejs-client/ws-transport, pinned in package-lock.json) and over HTTP,
// side by side, run by TestCubeJSWebSocket
// (cmd/cubegate/app/cubejs_ws_test.go).
//
//   node ws.mjs --oracle DIR
//
// The gateway's addresses and key come from the environment (no token in
// a process list): CUBEJS_API_URL (http://host:port/cubejs-api/v1),
// CUBEJS_WS_URL (the same as ws://, what an application passes as the
// transport's apiUrl) and CUBEJS_TOKEN. Both clients load every query of
// DIR/queries.jsonl, subscribe to the first (one answer), ask meta, sql and
// dryRun, and load with an unknown key; it prints one JSON document
// {"http": …, "ws": …} with, for each, the ResultSet's tablePivot and the
// answers' annotation titles, or the error load() rejected with.
import fs from 'node:fs';
import path from 'node:path';
import cube from '@cubejs-client/core';
import WebSocketTransport from '@cubejs-client/ws-transport';

function args(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i += 2) {
    opts[argv[i].replace(/^--/, '')] = argv[i + 1];
  }
  if (!opts.oracle) {
    throw new Error('usage: node ws.mjs --oracle DIR');
  }
  return opts;
}

function titles(annotation) {
  const out = {};
  ['measures', 'dimensions', 'segments', 'timeDimensions'].forEach((kind) => {
    Object.entries((annotation && annotation[kind]) || {}).forEach(([member, a]) => {
      out[member] = { title: a.title, shortTitle: a.shortTitle, type: a.type };
    });
  });
  return out;
}

function describe(rs) {
  return {
    tablePivot: rs.tablePivot(),
    annotation: rs.loadResponses.map((r) => titles(r.annotation)),
  };
}

function failure(e) {
  return { loadError: { message: String(e && e.message), status: e && e.status !== undefined ? e.status : null } };
}

async function attempt(fn) {
  try {
    return await fn();
  } catch (e) {
    return failure(e);
  }
}

async function exercise(api, badApi, queries) {
  const out = { cases: {} };
  for (const c of queries) {
    out.cases[c.name] = await attempt(async () => describe(await api.load(c.query)));
  }
  // subscribe: one answer (cubegate has no refresh scheduler), then the
  // subscription ends.
  out.subscribe = await attempt(() => new Promise((resolve, reject) => {
    let sub = null;
    let answer = null;
    const done = () => {
      if (sub && answer) {
        sub.unsubscribe();
        if (answer.error) {
          reject(answer.error);
        } else {
          resolve(describe(answer.rs));
        }
      }
    };
    sub = api.subscribe(queries[0].query, {}, (error, rs) => {
      answer = answer || { error, rs };
      done();
    });
    done();
  }));
  out.meta = await attempt(async () => {
    const meta = await api.meta();
    return meta.cubes.map((c) => ({
      name: c.name,
      title: c.title,
      members: [...c.measures, ...c.dimensions, ...c.segments].map((m) => [m.name, m.title, m.shortTitle]),
    }));
  });
  out.sql = await attempt(async () => (await api.sql(queries[1].query)).rawQuery());
  out.dryRun = await attempt(async () => api.dryRun(queries[1].query));
  out.badKey = await attempt(async () => describe(await badApi.load(queries[0].query)));
  return out;
}

async function main() {
  const opts = args(process.argv.slice(2));
  const { CUBEJS_API_URL: apiUrl, CUBEJS_WS_URL: wsUrl, CUBEJS_TOKEN: token } = process.env;
  if (!apiUrl || !wsUrl || !token) {
    throw new Error('ws.mjs needs CUBEJS_API_URL, CUBEJS_WS_URL and CUBEJS_TOKEN');
  }
  const queries = fs.readFileSync(path.join(opts.oracle, 'queries.jsonl'), 'utf8')
    .split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  const bad = 'cg_not_a_key';

  const http = await exercise(cube(token, { apiUrl }), cube(bad, { apiUrl }), queries);

  const transport = new WebSocketTransport({ authorization: token, apiUrl: wsUrl });
  const badTransport = new WebSocketTransport({ authorization: bad, apiUrl: wsUrl });
  const ws = await exercise(cube({ transport }), cube({ transport: badTransport }), queries);
  await transport.close();
  await badTransport.close();

  // The transports' heartbeat timers would keep node running: it exits
  // once the output is written (to a pipe, asynchronously).
  process.stdout.write(`${JSON.stringify({ http, ws }, null, 1)}\n`, () => process.exit(0));
}

main().catch((e) => {
  process.stderr.write(`ws.mjs: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
