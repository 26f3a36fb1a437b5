"""Prints what Python BI stacks read of a database's catalog, one fact
per line, so that cubegate's answers can be compared with PostgreSQL's:

  catalog.py sqlalchemy URL      SQLAlchemy's inspector (Superset)
  catalog.py odbc CONNSTR        psqlODBC through unixODBC (Tableau, Excel):
                                 SQLTables, SQLColumns, SQLPrimaryKeys,
                                 SQLGetTypeInfo, with UseDeclareFetch on
  catalog.py pgcli HOST PORT DB USER PASSWORD
                                 pgcli's start-up and completion refresher
"""
import sys


def out(what, rows):
    lines = sorted("|".join("" if v is None else str(v) for v in r) for r in rows)
    for line in lines:
        print(f"{what}={line}")
    print(f"{what}.count={len(lines)}")


def sqlalchemy_main(url):
    import sqlalchemy
    eng = sqlalchemy.create_engine(url)
    insp = sqlalchemy.inspect(eng)
    out("schemas", [[s] for s in insp.get_schema_names()])
    tables = insp.get_table_names(schema="public")
    out("tables", [[t] for t in tables])
    out("views", [[v] for v in insp.get_view_names(schema="public")])
    for t in sorted(tables):
        out("columns." + t, [[c["name"], str(c["type"]), c["nullable"], c.get("default"), c.get("comment")]
                             for c in insp.get_columns(t, schema="public")])
        out("pk." + t, [[",".join(insp.get_pk_constraint(t, schema="public")["constrained_columns"])]])
        out("fks." + t, [[fk["name"]] for fk in insp.get_foreign_keys(t, schema="public")])
        out("indexes." + t, [[i["name"]] for i in insp.get_indexes(t, schema="public")])
        out("unique." + t, [[u["name"]] for u in insp.get_unique_constraints(t, schema="public")])
        out("checks." + t, [[c["name"]] for c in insp.get_check_constraints(t, schema="public")])
        out("comment." + t, [[insp.get_table_comment(t, schema="public")["text"]]])
    with eng.connect() as conn:
        rows = conn.execute(sqlalchemy.text('SELECT "content" FROM "Logs" LIMIT 1')).fetchall()
        out("select", [[len(rows)]])


def odbc_main(connstr):
    import pyodbc
    conn = pyodbc.connect(connstr, autocommit=False)
    cur = conn.cursor()
    out("tables", [[r.table_schem, r.table_name, r.table_type] for r in cur.tables(schema="public")])
    for t in ["Logs", "KibanaSampleDataEcommerce", "NumberCube"]:
        out("columns." + t, [[r.column_name, r.data_type, r.type_name, r.column_size, r.decimal_digits, r.nullable,
                              r.ordinal_position] for r in cur.columns(table=t, schema="public")])
        out("pk." + t, [[r.column_name, r.key_seq] for r in cur.primaryKeys(table=t, schema="public")])
        out("stats." + t, [[r.index_name] for r in cur.statistics(table=t, schema="public")])
    out("types", [[r.type_name, r.data_type] for r in cur.getTypeInfo()])
    conn.rollback()


def pgcli_main(host, port, db, user, password):
    from pgcli.pgexecute import PGExecute
    e = PGExecute(db, user, password, host, int(port))
    print("server_version=" + str(e.conn.info.server_version // 10000))
    out("search_path", [[p] for p in e.search_path()])
    out("schemata", [[s] for s in e.schemata()])
    out("tables", [list(r) for r in e.tables()])
    out("views", [list(r) for r in e.views()])
    out("table_columns", [list(r)[:4] for r in e.table_columns()])
    out("foreignkeys", [list(r) for r in e.foreignkeys()])
    out("functions", [[f.schema_name, f.func_name] for f in e.functions() if f.schema_name == "public"])
    out("datatypes", [list(r) for r in e.datatypes()])
    # PostgreSQL lists every database of the cluster; a credential reaches one.
    out("databases", [[db in e.databases()]])
    out("casing", [[c] for c in e.casing()][:0])


if __name__ == "__main__":
    mode = sys.argv[1]
    {"sqlalchemy": lambda: sqlalchemy_main(sys.argv[2]),
     "odbc": lambda: odbc_main(sys.argv[2]),
     "pgcli": lambda: pgcli_main(*sys.argv[2:7])}[mode]()
