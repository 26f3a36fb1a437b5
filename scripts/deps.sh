#!/usr/bin/env bash
# Installs what the tests need, idempotently: PostgreSQL server and client
# binaries (tests start throwaway clusters from them) and the real client
# drivers the tests run: PgJDBC, psycopg2, psycopg 3, SQLAlchemy, psqlODBC (through
# unixODBC and pyodbc), pgcli, node-postgres, the Cube JavaScript client
# (@cubejs-client/core, for TestCubeJSClient), and Debian's chromium (the
# web console's browser tests drive it headless). A dependency that
# cannot be installed is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != "0" ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  echo "deps: installing $*"
  $SUDO apt-get install -y -qq "$@" >/dev/null
}

ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
command -v psql >/dev/null 2>&1 || apt_install postgresql-client
# MariaDB server, client and mariadb-tzinfo-to-sql: warehouse/mysql/mysqltest
# starts throwaway servers on their own datadir and port, never the system
# service. Without systemd the package's postinst starts that service through
# /etc/init.d and fails the install if it cannot: a policy-rc.d forbids the
# start while installing (unless the machine has its own policy-rc.d).
if ! { [ -x /usr/sbin/mariadbd ] && command -v mariadb >/dev/null 2>&1 && command -v mariadb-tzinfo-to-sql >/dev/null 2>&1; }; then
  mariadb_no_start=
  if [ ! -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    mariadb_no_start=1
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
  fi
  mariadb_rc=0
  apt_install mariadb-server || mariadb_rc=$?
  [ -z "$mariadb_no_start" ] || $SUDO rm -f /usr/sbin/policy-rc.d
  [ "$mariadb_rc" = 0 ] || exit "$mariadb_rc"
fi
# ClickHouse server and client (Debian's, 18.16): warehouse/clickhouse/chtest
# starts throwaway servers on their own config, folders and ports, never the
# system service, which the package's postinst would start through
# /etc/init.d (failing the install if it cannot): forbidden the same way.
if ! { [ -x /usr/sbin/clickhouse-server ] && command -v clickhouse-client >/dev/null 2>&1; }; then
  clickhouse_no_start=
  if [ ! -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    clickhouse_no_start=1
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
  fi
  clickhouse_rc=0
  apt_install clickhouse-server clickhouse-client || clickhouse_rc=$?
  [ -z "$clickhouse_no_start" ] || $SUDO rm -f /usr/sbin/policy-rc.d
  [ "$clickhouse_rc" = 0 ] || exit "$clickhouse_rc"
fi
[ -f /usr/share/java/postgresql.jar ] || apt_install libpostgresql-jdbc-java
command -v java >/dev/null 2>&1 || apt_install default-jdk-headless
/usr/bin/python3 -c 'import psycopg2' >/dev/null 2>&1 || apt_install python3-psycopg2
/usr/bin/python3 -c 'import psycopg' >/dev/null 2>&1 || apt_install python3-psycopg
/usr/bin/python3 -c 'import sqlalchemy' >/dev/null 2>&1 || apt_install python3-sqlalchemy
/usr/bin/python3 -c 'import pyodbc' >/dev/null 2>&1 || apt_install python3-pyodbc
ls /usr/lib/*/odbc/psqlodbcw.so >/dev/null 2>&1 || apt_install odbc-postgresql unixodbc
[ -x /usr/bin/pgcli ] || apt_install pgcli
command -v node >/dev/null 2>&1 || apt_install nodejs npm
# chromium: httpapi/console/consoletest drives it headless over the
# DevTools protocol (chromedp, no chromedriver).
command -v chromium >/dev/null 2>&1 || apt_install chromium
if [ ! -d testdata/clients/node/node_modules/pg ]; then
  echo "deps: installing node-postgres"
  (cd testdata/clients/node && npm ci --no-audit --no-fund --silent)
fi
# @cubejs-client/core and ws-transport as package-lock.json pins them
# (again when a pin moves).
cubejs_version() { node -p "require('./testdata/clients/cubejs/$1').version" 2>/dev/null || true; }
cubejs_pinned() { node -p "require('./testdata/clients/cubejs/package-lock.json').packages['node_modules/@cubejs-client/$1'].version"; }
if [ "$(cubejs_version node_modules/@cubejs-client/core/package.json)" != "$(cubejs_pinned core)" ] ||
   [ "$(cubejs_version node_modules/@cubejs-client/ws-transport/package.json)" != "$(cubejs_pinned ws-transport)" ]; then
  echo "deps: installing @cubejs-client/core and ws-transport"
  (cd testdata/clients/cubejs && npm ci --no-audit --no-fund --silent)
fi
# chdb (an embedded current ClickHouse) as package-lock.json pins it:
# warehouse/clickhouse's tests validate there the SQL ClickHouse 18.16
# cannot run (again when the pin moves).
if [ "$(node -p "require('./testdata/clients/chdb/node_modules/chdb/package.json').version" 2>/dev/null || true)" != \
     "$(node -p "require('./testdata/clients/chdb/package-lock.json').packages['node_modules/chdb'].version")" ]; then
  echo "deps: installing chdb"
  # npm install, not npm ci: the lock holds the one platform library this
  # registry serves (linux-x64), and npm ci refuses a lock without chdb's
  # other optional platform libraries.
  (cd testdata/clients/chdb && npm install --no-audit --no-fund --no-save --silent)
  [ -f testdata/clients/chdb/node_modules/@chdb/lib-linux-x64-gnu/package.json ] || { echo "deps: chdb's library did not install" >&2; exit 1; }
fi

ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "deps: PostgreSQL server binaries are missing" >&2; exit 1; }
id postgres >/dev/null 2>&1 || { echo "deps: no postgres OS user" >&2; exit 1; }
[ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null 2>&1 || { echo "deps: MariaDB server binaries are missing" >&2; exit 1; }
[ -x /usr/sbin/clickhouse-server ] && command -v clickhouse-client >/dev/null 2>&1 || { echo "deps: ClickHouse server binaries are missing" >&2; exit 1; }
command -v chromium >/dev/null 2>&1 || { echo "deps: chromium is missing" >&2; exit 1; }
