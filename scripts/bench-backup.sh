#!/usr/bin/env bash
# Backup benchmark (issue 12): on a generated database of SIZE_MB (default 1024), side by
# side: `k12 backup create` vs plain `pg_dump -Fc -Z1` to a file, `k12 backup verify` vs
# `pg_restore -j2` into an empty database, and `k12 restore`; wall time and peak RSS of each
# (/usr/bin/time -v), and the size ratio. Prints a Markdown table.
#
# Usage: scripts/bench-backup.sh [SIZE_MB] [K12_BINARY]
# Uses a private cluster in a temporary directory (removed at exit) and a file store.
set -euo pipefail
size_mb="${1:-1024}"
k12="${2:-target/release/k12}"
k12="$(realpath "$k12")"
bin="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
dir="$(mktemp -d /tmp/k12-bench-backup.XXXXXX)"
chmod 755 "$dir"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
cleanup() { as_pg "$bin/pg_ctl" stop -D "$dir/data" -m immediate >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync >/dev/null
as_pg "$bin/pg_ctl" start -w -D "$dir/data" -l "$dir/data/server.log" \
  -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c shared_buffers=128MB" >/dev/null
base="postgres://postgres@127.0.0.1:$port"
psql() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
psql "$base/postgres" -c "CREATE ROLE k12_owner LOGIN" -c "CREATE ROLE k12_service NOLOGIN" \
  -c "CREATE ROLE k12_app LOGIN IN ROLE k12_service" -c "CREATE DATABASE k12 OWNER k12_owner"
DATABASE_OWNER_URL="postgres://k12_owner@127.0.0.1:$port/k12" "$k12" migrate >/dev/null

# Roughly 110 bytes a row on disk: rows for SIZE_MB, in batches of a million.
rows=$(( size_mb * 1024 * 1024 / 110 ))
echo "filling $rows rows (~$size_mb MB)..." >&2
psql "$base/k12" -c "CREATE TABLE bench_fill (id bigint PRIMARY KEY, a text, b text, n int)"
done_rows=0
while [ "$done_rows" -lt "$rows" ]; do
  next=$(( done_rows + 1000000 < rows ? done_rows + 1000000 : rows ))
  psql "$base/k12" -c "INSERT INTO bench_fill SELECT g, md5(g::text), md5((g*7)::text), g % 1000
                         FROM generate_series($done_rows + 1, $next) g"
  done_rows=$next
done
db_size=$(psql "$base/k12" -Atc "SELECT pg_database_size('k12')")

export DATABASE_URL="postgres://k12_app@127.0.0.1:$port/k12"
export K12_BACKUP_DATABASE_URL="$base/k12"
export K12_STORAGE_URL="file://$dir/store"
export RUST_LOG=warn

# run NAME CMD...: wall seconds and peak RSS (KiB) into $dir/NAME.time
run() {
  local name="$1"; shift
  /usr/bin/time -v -o "$dir/$name.time" "$@" >"$dir/$name.out" 2>"$dir/$name.err"
}
wall() { awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; printf "%.1f", s}' "$dir/$1.time"; }
rss() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$dir/$1.time"; }

echo "pg_dump..." >&2
run pg_dump "$bin/pg_dump" -Fc -Z1 -f "$dir/plain.dump" "$base/k12"
echo "k12 backup create..." >&2
run create "$k12" backup create --json
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$dir/create.out")
stored=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["size_bytes"])' "$dir/create.out")
plain=$(stat -c %s "$dir/plain.dump")
psql "$base/postgres" -c "CREATE DATABASE bench_empty"
echo "pg_restore -j2..." >&2
run pg_restore "$bin/pg_restore" -j2 -d "$base/bench_empty" "$dir/plain.dump"
echo "k12 backup verify..." >&2
run verify "$k12" backup verify "$id" --json
psql "$base/postgres" -c "CREATE DATABASE bench_target"
echo "k12 restore..." >&2
run restore "$k12" restore "$id" --target-url "$base/bench_target" --json

mb() { python3 -c "print(f'{$1/1048576:.0f}')"; }
echo
echo "Database $(mb "$db_size") MB ($rows rows of filler plus the migrated schema); $(nproc) cores."
echo
echo "| step | wall s | peak RSS MB | compared with | ratio |"
echo "|---|---|---|---|---|"
echo "| \`pg_dump -Fc -Z1\` to a file | $(wall pg_dump) | $(rss pg_dump) | | |"
echo "| \`k12 backup create\` (to a file store) | $(wall create) | $(rss create) | pg_dump | $(python3 -c "print(f'{$(wall create)/$(wall pg_dump):.2f}x')") |"
echo "| \`pg_restore -j2\` into an empty database | $(wall pg_restore) | $(rss pg_restore) | | |"
echo "| \`k12 backup verify\` (stream, restore, count, drop) | $(wall verify) | $(rss verify) | pg_restore -j2 | $(python3 -c "print(f'{$(wall verify)/$(wall pg_restore):.2f}x')") |"
echo "| \`k12 restore\` into an empty database | $(wall restore) | $(rss restore) | pg_restore -j2 | $(python3 -c "print(f'{$(wall restore)/$(wall pg_restore):.2f}x')") |"
echo
echo "Sizes: database $(mb "$db_size") MB, plain dump $(mb "$plain") MB, k12 object $(mb "$stored") MB (object/plain $(python3 -c "print(f'{$stored/$plain:.3f}')"), dump/database $(python3 -c "print(f'{$plain/$db_size:.3f}')"))."
if grep -q '"status": "verified"' "$dir/verify.out"; then
  echo "Verification: verified."
else
  echo "Verification did not pass:"
  cat "$dir/verify.out" "$dir/verify.err"
  exit 1
fi
