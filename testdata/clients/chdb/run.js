// run.js: runs SQL on chdb (an embedded current ClickHouse) for
// warehouse/clickhouse's tests. stdin: {"setup": [statements],
// "queries": [statements]}; stdout: one JSON array, an entry per query:
// {"tsv": "…"} (TabSeparated rows) or {"error": "…"}. A setup statement
// that fails ends the run (exit 1).
const { Session } = require("chdb");
const fs = require("fs");
const os = require("os");
const path = require("path");

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cubegate-chdb-"));
const s = new Session(dir);
try {
  const version = s.query("SELECT version()", "TabSeparated").trim();
  for (const q of input.setup || []) {
    try {
      s.query(q, "TabSeparated");
    } catch (e) {
      process.stderr.write("setup: " + q.slice(0, 200) + ": " + String(e) + "\n");
      process.exit(1);
    }
  }
  const out = [];
  for (const q of input.queries || []) {
    try {
      out.push({ tsv: s.query(q, "TabSeparated") });
    } catch (e) {
      out.push({ error: String(e) });
    }
  }
  process.stdout.write(JSON.stringify({ version, results: out }));
} finally {
  s.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
}
