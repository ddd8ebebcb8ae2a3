#!/usr/bin/env bash
# Shared by scripts/deploy.sh and scripts/rollback.sh: the two colours (blue, green) of
# `k12 serve` behind nginx, their health checks, the switch, the watch and the drain.
# Sourced, never run. Configuration (defaults in brackets):
#   K12_RELEASES_DIR [/var/lib/k12/releases]   releases side by side: ID/k12 (+ ID/release.env)
#   K12_DEPLOY_ENV_FILE [/etc/k12/ENV.env]      the service's environment (DATABASE_URL, ...)
#   K12_DEPLOY_HOST [127.0.0.1]                 address both colours listen on
#   K12_DEPLOY_PORTS ["3001 3002"]              API ports of blue and green
#   K12_DEPLOY_METRICS_PORTS ["9101 9102"]      their /metrics ports
#   K12_NGINX_BIN [nginx], K12_NGINX_CONF [/etc/nginx/nginx.conf]
#   K12_NGINX_UPSTREAM_FILE [/etc/nginx/conf.d/k12-upstream.inc]  written here, included by nginx
#   K12_NGINX_ERROR_LOG [unset]                 passed as `nginx -e` (for a non-root nginx)
#   K12_DEPLOY_HEALTH_TIMEOUT [60]              seconds a new version has to become ready
#   K12_DEPLOY_WATCH_SECONDS [120]              post-switch watch
#   K12_DEPLOY_MAX_ERROR_RATE [0.02]            share of 5xx answers that triggers a switch back
#   K12_DEPLOY_MAX_P95_MS [1000]                p95 latency that triggers a switch back
#   K12_DEPLOY_DRAIN_SECONDS [10]               wait after a switch before the old version stops
#   K12_SLACK_WEBHOOK_URL [unset]               start, success, block and failure messages

: "${deploy_env:?deploy_env must be set before sourcing deploy-lib.sh}"
lib_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
releases="${K12_RELEASES_DIR:-/var/lib/k12/releases}"
state="$releases/.state"
env_file="${K12_DEPLOY_ENV_FILE:-/etc/k12/$deploy_env.env}"
host="${K12_DEPLOY_HOST:-127.0.0.1}"
read -r -a api_ports <<<"${K12_DEPLOY_PORTS:-3001 3002}"
read -r -a metrics_ports <<<"${K12_DEPLOY_METRICS_PORTS:-9101 9102}"
nginx_bin="${K12_NGINX_BIN:-nginx}"
nginx_conf="${K12_NGINX_CONF:-/etc/nginx/nginx.conf}"
upstream_file="${K12_NGINX_UPSTREAM_FILE:-/etc/nginx/conf.d/k12-upstream.inc}"
health_timeout="${K12_DEPLOY_HEALTH_TIMEOUT:-60}"
watch_seconds="${K12_DEPLOY_WATCH_SECONDS:-120}"
max_error_rate="${K12_DEPLOY_MAX_ERROR_RATE:-0.02}"
max_p95_ms="${K12_DEPLOY_MAX_P95_MS:-1000}"
drain_seconds="${K12_DEPLOY_DRAIN_SECONDS:-10}"

mkdir -p "$state"

log() {
  printf '%s %s: %s\n' "$(date -u +%H:%M:%SZ)" "$(basename "$0" .sh)" "$*" >&2
}

# notify TEXT: log it and post it to Slack (the webhook URL stays in the environment).
notify() {
  log "$1"
  python3 "$lib_dir/deploy_probe.py" slack "[k12 $deploy_env] $1" || true
}

# Only one deploy or rollback at a time per releases directory.
take_lock() {
  exec 9>"$state/lock"
  if ! flock -n 9; then
    log "another deploy or rollback is running (lock $state/lock)"
    exit 4
  fi
}

other_color() { [ "$1" = blue ] && echo green || echo blue; }
color_index() { [ "$1" = blue ] && echo 0 || echo 1; }
api_port() { echo "${api_ports[$(color_index "$1")]}"; }
metrics_port() { echo "${metrics_ports[$(color_index "$1")]}"; }

# The colour serving now, or nothing before the first deploy.
active_color() { cat "$state/active" 2>/dev/null || true; }
release_of() { cat "$state/$1.release" 2>/dev/null || true; }

# load_env [RELEASE_ENV]: in the current (sub)shell, exports the service's environment,
# then the release's own overrides; the values never reach a command line.
load_env() {
  set -a
  if [ -f "$env_file" ]; then
    # shellcheck source=/dev/null
    . "$env_file"
  fi
  if [ -n "${1:-}" ] && [ -f "$1" ]; then
    # shellcheck source=/dev/null
    . "$1"
  fi
  set +a
}

# with_env RELEASE_ENV CMD...: runs CMD in that environment.
with_env() {
  local release_env="$1"
  shift
  (
    load_env "$release_env"
    exec "$@"
  )
}

# start_color COLOR RELEASE: starts RELEASE's `k12 serve` on COLOR's ports, in the background.
start_color() {
  local color="$1" release="$2"
  stop_color "$color"
  (
    # The lock stays with this script, not with a server that outlives it.
    exec 9>&-
    load_env "$releases/$release/release.env"
    K12_LISTEN="$host:$(api_port "$color")"
    K12_METRICS_LISTEN="$host:$(metrics_port "$color")"
    export K12_LISTEN K12_METRICS_LISTEN
    exec "$releases/$release/k12" serve
  ) >>"$state/$color.log" 2>&1 </dev/null &
  echo $! >"$state/$color.pid"
  echo "$release" >"$state/$color.release"
  log "started $release as $color (pid $!, port $(api_port "$color"))"
}

# health_check COLOR: ready (database reachable, migrations current) within the timeout.
health_check() {
  local color="$1"
  python3 "$lib_dir/deploy_probe.py" ready \
    "http://$host:$(api_port "$color")/api/v1/ready" "$health_timeout" "$(cat "$state/$color.pid")"
}

# switch_to PRIMARY [BACKUP]: nginx sends traffic to PRIMARY; while a BACKUP is named,
# a request PRIMARY fails (connection error, 500, 502-504) is retried there, so clients
# see no failure while a new version is watched. Reload is graceful: old workers finish
# their requests.
switch_to() {
  local primary="$1" backup="${2:-}" tmp
  tmp="$(mktemp "$upstream_file.XXXXXX")"
  {
    echo "# Written by scripts/deploy.sh; $(date -u +%FT%TZ)"
    echo "upstream k12_api {"
    echo "    server $host:$(api_port "$primary") max_fails=0;"
    if [ -n "$backup" ]; then
      echo "    server $host:$(api_port "$backup") backup max_fails=0;"
    fi
    echo "    keepalive 32;"
    echo "}"
  } >"$tmp"
  chmod 644 "$tmp"
  mv "$tmp" "$upstream_file"
  local nginx=("$nginx_bin" -c "$nginx_conf")
  if [ -n "${K12_NGINX_ERROR_LOG:-}" ]; then
    nginx+=(-e "$K12_NGINX_ERROR_LOG")
  fi
  "${nginx[@]}" -t -q
  "${nginx[@]}" -s reload
  # The master starts new workers on the new upstream and lets the old ones finish.
  sleep 1
  log "nginx: traffic to $primary${backup:+ (backup $backup)}"
}

# stop_color COLOR: SIGTERM (k12 finishes in-flight requests), SIGKILL after a grace period.
stop_color() {
  local color="$1" pid
  pid="$(cat "$state/$color.pid" 2>/dev/null || true)"
  rm -f "$state/$color.pid"
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((drain_seconds * 4 + 40))); do
    kill -0 "$pid" 2>/dev/null || { log "stopped $color (pid $pid)"; return 0; }
    sleep 0.25
  done
  log "$color (pid $pid) did not stop in time; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

# watch_color COLOR: the post-switch watch on COLOR's own metrics.
watch_color() {
  python3 "$lib_dir/deploy_probe.py" watch "http://$host:$(metrics_port "$1")/metrics" \
    "$watch_seconds" "$max_error_rate" "$max_p95_ms"
}

# promote NEW OLD: NEW serves alone; OLD is drained and stopped; the state remembers it.
promote() {
  local new="$1" old="$2"
  switch_to "$new"
  echo "$new" >"$state/active"
  ln -sfn "$(release_of "$new")" "$releases/current"
  if [ -n "$old" ]; then
    sleep "$drain_seconds"
    local old_release
    old_release="$(release_of "$old")"
    stop_color "$old"
    if [ -n "$old_release" ] && [ "$old_release" != "$(release_of "$new")" ]; then
      ln -sfn "$old_release" "$releases/previous"
    fi
  fi
}

# cut_over NEW OLD: health-check NEW, switch with OLD as backup, watch, then promote NEW
# or switch back to OLD. Exit status 0 promoted, 1 health check failed, 2 switched back.
cut_over() {
  local new="$1" old="$2"
  if ! health_check "$new"; then
    stop_color "$new"
    return 1
  fi
  if [ -z "$old" ]; then
    promote "$new" ""
    return 0
  fi
  switch_to "$new" "$old"
  if watch_color "$new"; then
    promote "$new" "$old"
    return 0
  fi
  switch_to "$old"
  sleep "$drain_seconds"
  stop_color "$new"
  return 2
}
