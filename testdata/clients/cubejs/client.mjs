// The real Cube JavaScript client (@cubejs-client/core, pinned in
// package-lock.json) run by TestCubeJSClient (cmd/cubegate/app/cubejs_test.go).
//
//   node client.mjs live     --oracle DIR --cases DIR
//   node client.mjs recorded --oracle DIR --cases DIR
//
// live: cube(token, { apiUrl }) loads every query of DIR/queries.jsonl (the
// shared Cube oracle) and of the --cases folder from cubegate; the API URLs
// and tokens come from the environment (CUBEJS_API_URL, CUBEJS_TOKEN for
// the oracle queries and /meta; CUBEJS_API_URL_CASES, CUBEJS_TOKEN_CASES for
// the --cases queries, the same ones when unset) so that no token is seen
// in a process list.
//
// recorded: the same client functions on Cube's own answers instead: the
// oracle's recorded /load answers (Cube 0.33, one result each) wrapped into
// the multi shape Cube 1.x's gateway answers the client with, the recorded
// /meta, and the Cube 1.x answers written into each --cases file.
//
// Either way it prints one JSON document: for every case what the client's
// ResultSet gives (tablePivot, chartPivot, seriesNames, series,
// tableColumns, totalRow, totalRows, query, pivotQuery, rawData, decompose
// and drillDown), or the error load() rejected with; the Meta helpers'
// answers; and every title that is missing or a raw member path (the
// test accepts only those Cube's own answers give too). A function
// that throws is recorded as {"threw": message}: nothing escapes.
import fs from 'node:fs';
import path from 'node:path';
import cube, { ResultSet, Meta } from '@cubejs-client/core';

function parseArgs(argv) {
  const [mode, ...rest] = argv;
  const opts = { mode };
  for (let i = 0; i < rest.length; i += 2) {
    opts[rest[i].replace(/^--/, '')] = rest[i + 1];
  }
  if (!['live', 'recorded'].includes(mode) || !opts.oracle || !opts.cases) {
    throw new Error('usage: node client.mjs live|recorded --oracle DIR --cases DIR');
  }
  return opts;
}

function readJSON(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function oracleCases(dir) {
  return fs.readFileSync(path.join(dir, 'queries.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => ({ kind: 'oracle', ...JSON.parse(line) }));
}

function extraCases(dir) {
  return fs.readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ kind: 'cases', ...readJSON(path.join(dir, f)) }));
}

// What Cube 1.x's gateway answers the client (it always sends
// queryType=multi) for a regular query, from the single result Cube 0.33
// recorded: gateway.ts load() answers { queryType, results, pivotQuery,
// slowQuery }; getPivotQuery (query.ts, or get_pivot_query in the native
// result code) is the first normalized query with queryType set.
function wrapRecorded(answer) {
  return {
    queryType: 'regularQuery',
    results: [answer],
    pivotQuery: { ...answer.query, queryType: 'regularQuery' },
    slowQuery: Boolean(answer.slowQuery),
  };
}

function attempt(fn) {
  try {
    const v = fn();
    return v === undefined ? { undefined: true } : v;
  } catch (e) {
    return { threw: String(e && e.message !== undefined ? e.message : e) };
  }
}

function describe(rs) {
  return {
    tablePivot: attempt(() => rs.tablePivot()),
    chartPivot: attempt(() => rs.chartPivot()),
    seriesNames: attempt(() => rs.seriesNames()),
    series: attempt(() => rs.series()),
    tableColumns: attempt(() => rs.tableColumns()),
    totalRow: attempt(() => rs.totalRow()),
    totalRows: attempt(() => rs.totalRows()),
    query: attempt(() => rs.query()),
    pivotQuery: attempt(() => rs.pivotQuery()),
    rawData: attempt(() => rs.rawData()),
    decompose: attempt(() => rs.decompose().map((r) => ({ query: r.query(), rawData: r.rawData() }))),
  };
}

// Every member a query names, for the Meta helpers.
function membersOf(query) {
  const out = new Set();
  const walk = (filters) => (filters || []).forEach((f) => {
    if (f.or || f.and) {
      walk(f.or || f.and);
    } else if (f.member || f.dimension) {
      out.add(f.member || f.dimension);
    }
  });
  (query.measures || []).forEach((m) => out.add(m));
  (query.dimensions || []).forEach((d) => out.add(d));
  (query.timeDimensions || []).forEach((td) => out.add(td.dimension));
  walk(query.filters);
  return [...out];
}

function metaHelpers(meta, cases) {
  const resolveMember = {};
  const defaultTimeDimensionNameFor = {};
  const filterOperatorsForMember = {};
  cases.forEach((c) => {
    membersOf(c.query).forEach((m) => {
      resolveMember[m] = attempt(() => meta.resolveMember(m, ['measures', 'dimensions']));
      defaultTimeDimensionNameFor[m] = attempt(() => meta.defaultTimeDimensionNameFor(m));
      filterOperatorsForMember[m] = attempt(() => meta.filterOperatorsForMember(m, ['measures', 'dimensions']));
    });
    (c.query.segments || []).forEach((s) => {
      resolveMember[s] = attempt(() => meta.resolveMember(s, 'segments'));
    });
  });
  // Meta.membersForQuery ignores its query (it lists every member, sorted
  // by title); it is asked with the first oracle query as an application would.
  const q = cases[0].query;
  return {
    membersForQuery: {
      measures: attempt(() => meta.membersForQuery(q, 'measures')),
      dimensions: attempt(() => meta.membersForQuery(q, 'dimensions')),
      segments: attempt(() => meta.membersForQuery(q, 'segments')),
    },
    resolveMember,
    defaultTimeDimensionNameFor,
    filterOperatorsForMember,
    cubes: attempt(() => meta.cubes.map((c) => ({ name: c.name, title: c.title, type: c.type }))),
  };
}

// A title an application shows must not be a member path
// ("orders.count"): every title and shortTitle of the annotations, the
// table columns, the series and /meta is checked.
const memberPath = /(^|[\s,])[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*/;

function rawTitles(where, value, out) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => rawTitles(`${where}[${i}]`, v, out));
  } else if (value && typeof value === 'object') {
    Object.entries(value).forEach(([k, v]) => {
      if ((k === 'title' || k === 'shortTitle') && (typeof v !== 'string' || memberPath.test(v))) {
        out.push(`${where}.${k} = ${JSON.stringify(v)}`);
      } else if (k !== 'rawData' && k !== 'tablePivot' && k !== 'chartPivot' && k !== 'query' && k !== 'pivotQuery') {
        rawTitles(`${where}.${k}`, v, out);
      }
    });
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const oracle = oracleCases(opts.oracle);
  const extras = extraCases(opts.cases);
  const out = { cases: {}, rawTitles: [] };

  let oracleApi;
  let casesApi;
  if (opts.mode === 'live') {
    const apiUrl = process.env.CUBEJS_API_URL;
    const token = process.env.CUBEJS_TOKEN;
    if (!apiUrl || !token) {
      throw new Error('live needs CUBEJS_API_URL and CUBEJS_TOKEN');
    }
    oracleApi = cube(token, { apiUrl });
    casesApi = process.env.CUBEJS_API_URL_CASES
      ? cube(process.env.CUBEJS_TOKEN_CASES || token, { apiUrl: process.env.CUBEJS_API_URL_CASES })
      : oracleApi;
  }

  // load resolves to a ResultSet or rejects; either way the case records it.
  const load = async (api, c, recordedAnswer) => {
    if (opts.mode === 'live') {
      try {
        return { rs: await api.load(c.query) };
      } catch (e) {
        return { error: { message: String(e && e.message), status: e && e.response ? e.status ?? null : e.status ?? null, name: e && e.name } };
      }
    }
    if (recordedAnswer.error !== undefined) {
      // The client rejects a non-200 answer with a RequestError carrying the
      // body's error (index.js loadMethod); Cube answers errors with 400.
      return { error: { message: recordedAnswer.error, status: 400, name: 'Error' } };
    }
    return { rs: new ResultSet(recordedAnswer) };
  };

  for (const c of oracle) {
    const recorded = opts.mode === 'recorded' ? readJSON(path.join(opts.oracle, 'expected', `${c.name}.json`)) : null;
    const answer = recorded && recorded.error === undefined ? wrapRecorded(recorded) : recorded;
    const { rs, error } = await load(oracleApi, c, answer);
    out.cases[c.name] = error ? { loadError: error } : describe(rs);
    if (rs) {
      rs.loadResponses.forEach((r, i) => rawTitles(`${c.name}.annotation[${i}]`, r.annotation, out.rawTitles));
    }
  }

  for (const c of extras) {
    const { rs, error } = await load(casesApi, c, c.recorded);
    const res = error ? { loadError: error } : describe(rs);
    if (rs) {
      rs.loadResponses.forEach((r, i) => rawTitles(`${c.name}.annotation[${i}]`, r.annotation, out.rawTitles));
    }
    if (rs && c.drillDown) {
      const drill = attempt(() => rs.drillDown(c.drillDown.locator, c.drillDown.pivotConfig));
      res.drillDown = drill;
      // The drill-down query loads from cubegate (live only: Cube's answer
      // to it is not recorded); its outputs are checked for exceptions and
      // raw titles, and the query itself against Cube's.
      if (opts.mode === 'live' && drill && !drill.threw && !drill.undefined) {
        try {
          const drilled = await casesApi.load(drill);
          res.drillDownLoaded = describe(drilled);
          drilled.loadResponses.forEach((r, i) => rawTitles(`${c.name}.drillDown.annotation[${i}]`, r.annotation, out.rawTitles));
        } catch (e) {
          res.drillDownLoaded = { loadError: { message: String(e && e.message), status: e.status ?? null } };
        }
      }
    }
    out.cases[c.name] = res;
  }

  let meta;
  if (opts.mode === 'live') {
    try {
      meta = await oracleApi.meta();
    } catch (e) {
      out.metaError = String(e && e.message);
    }
  } else {
    meta = new Meta(readJSON(path.join(opts.oracle, 'expected', '_meta.json')));
  }
  if (meta) {
    out.meta = metaHelpers(meta, oracle);
    rawTitles('meta', meta.cubes, out.rawTitles);
  }
  // The cases' model (with declared titles, hidden members, hierarchies)
  // has no recorded /meta: its titles are only checked.
  if (opts.mode === 'live' && casesApi !== oracleApi) {
    try {
      rawTitles('casesMeta', (await casesApi.meta()).cubes, out.rawTitles);
    } catch (e) {
      out.metaError = `cases: ${e && e.message}`;
    }
  }
  Object.entries(out.cases).forEach(([name, res]) => rawTitles(name, res, out.rawTitles));
  process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
}

main().catch((e) => {
  process.stderr.write(`client.mjs: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
