#!/usr/bin/env bash
# Installs what the tests need, idempotently: PostgreSQL server and client
# binaries (the tests start throwaway clusters from them). Under CI=true a
# dependency that cannot be installed is a failure.
set -euo pipefail

have_pg() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v psql >/dev/null 2>&1; }

if ! have_pg; then
  echo "deps: installing postgresql (server + client)"
  if [ "$(id -u)" != "0" ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq postgresql postgresql-client >/dev/null
fi
have_pg || { echo "deps: PostgreSQL binaries are still missing" >&2; exit 1; }
id postgres >/dev/null 2>&1 || { echo "deps: no postgres OS user" >&2; exit 1; }
