#!/usr/bin/env bash
# Installs the system packages the product and its tests need on Debian 12, if missing.
set -euo pipefail

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

need=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
command -v pgbench >/dev/null || need+=(postgresql-contrib)
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
# The rate-limit tests start their own redis-server on a free loopback port.
command -v redis-server >/dev/null || need+=(redis-server)
# The monitoring tests validate /metrics with Prometheus's own parser and linter.
command -v promtool >/dev/null || need+=(prometheus)
# The migration linter's pg_query crate compiles libpg_query (cc) and runs bindgen (libclang).
command -v clang >/dev/null || need+=(clang)
compgen -G "/usr/lib/llvm-*/lib/libclang.so*" >/dev/null || need+=(libclang-dev)
# The API tests also run through a transaction-pooling PgBouncer (scripts/test-pgbouncer.sh).
[ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null || need+=(pgbouncer)
# The blue-green deploy test runs a real nginx; the scripts are linted with shellcheck.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx-light)
command -v shellcheck >/dev/null || need+=(shellcheck)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The prometheus package starts a server we do not use; only promtool is wanted.
if [[ " ${need[*]} " == *" prometheus "* ]]; then
  "${sudo_cmd[@]}" service prometheus stop >/dev/null 2>&1 || true
  if command -v systemctl >/dev/null; then "${sudo_cmd[@]}" systemctl disable prometheus >/dev/null 2>&1 || true; fi
fi
# A package install may start the distribution's own cluster; we never use it.
if [ ${#need[@]} -gt 0 ] && command -v pg_ctlcluster >/dev/null; then
  "${sudo_cmd[@]}" service postgresql stop >/dev/null 2>&1 || true
fi
# Likewise the distribution's Redis service: the tests run their own, and nothing may
# depend on one that happens to be up.
if [ ${#need[@]} -gt 0 ] && [[ " ${need[*]} " == *" redis-server "* ]]; then
  "${sudo_cmd[@]}" service redis-server stop >/dev/null 2>&1 || true
  if command -v systemctl >/dev/null; then "${sudo_cmd[@]}" systemctl disable redis-server >/dev/null 2>&1 || true; fi
fi
# And the distribution's PgBouncer service: the tests start their own on a free port.
if [ ${#need[@]} -gt 0 ] && [[ " ${need[*]} " == *" pgbouncer "* ]]; then
  "${sudo_cmd[@]}" service pgbouncer stop >/dev/null 2>&1 || true
  if command -v systemctl >/dev/null; then "${sudo_cmd[@]}" systemctl disable pgbouncer >/dev/null 2>&1 || true; fi
fi
# And the distribution's nginx: the deploy test starts its own on free ports.
if [ ${#need[@]} -gt 0 ] && [[ " ${need[*]} " == *" nginx-light "* ]]; then
  "${sudo_cmd[@]}" service nginx stop >/dev/null 2>&1 || true
  if command -v systemctl >/dev/null; then "${sudo_cmd[@]}" systemctl disable nginx >/dev/null 2>&1 || true; fi
fi
# The feature-flag test reads flags with the official OpenFeature Python SDK and OFREP
# provider (pinned in scripts/ofrep-venv.sh; the test also creates the venv on demand).
bash "$(dirname "$0")/ofrep-venv.sh" >/dev/null
