#!/usr/bin/env bash
# dromos setup: installs what the real parts need (see DESIGN.md, "Real parts, and how
# they start"), installs npm dependencies and makes sure a Docker daemon answers.
#
# Idempotent and fast when everything is present (well under 2 s).
#
# Environment:
#   DROMOS_SETUP_DRY_RUN=1   print what would be done (apt, npm, dockerd) without doing it
#   DROMOS_WITH_UI=0         do not install chromium (the UI tests need it; installed by default)
#   DOCKER_HOST              unix:///path/to.sock is honoured; tcp://... is only pinged
#   DROMOS_DOCKERD_ARGS      extra dockerd arguments (word-split), e.g. to test the start
#                            path beside a running daemon: --pidfile, --data-root, --exec-root
#   DROMOS_DOCKERD_LOG       dockerd log file (default /var/log/dromos-dockerd.log, or /tmp)
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

case "${DROMOS_SETUP_DRY_RUN:-0}" in
  ""|0|false|no) DRY_RUN=0 ;;
  *) DRY_RUN=1 ;;
esac

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }
dry() { printf 'setup: [dry-run] would run: %s\n' "$*"; }

# ---------------------------------------------------------------------------
# 1. System packages
# ---------------------------------------------------------------------------
pkg_installed() { # pkg_installed PKG -> 0 if dpkg says it is installed
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing_pkgs=()
need() { # need PACKAGE: add once
  local p
  for p in "${missing_pkgs[@]+"${missing_pkgs[@]}"}"; do [ "$p" = "$1" ] && return 0; done
  missing_pkgs+=("$1")
}

command -v dockerd >/dev/null 2>&1 || need docker.io
command -v docker >/dev/null 2>&1 || need docker.io
command -v docker-registry >/dev/null 2>&1 || need docker-registry
command -v etcd >/dev/null 2>&1 || need etcd-server
command -v haproxy >/dev/null 2>&1 || need haproxy
command -v ip >/dev/null 2>&1 || need iproute2
command -v tar >/dev/null 2>&1 || need tar
command -v curl >/dev/null 2>&1 || need curl            # used below to ping dockerd
command -v wrk >/dev/null 2>&1 || need wrk              # the load generator of bench/lb
# Test images are built from a *static* busybox (/bin/busybox from busybox-static; the
# plain `busybox` package also ships /bin/busybox but it is dynamically linked).
if [ ! -x /bin/busybox ] || ! pkg_installed busybox-static; then need busybox-static; fi
# better-sqlite3 builds from source when no prebuilt binary fits.
command -v g++ >/dev/null 2>&1 || need g++
command -v make >/dev/null 2>&1 || need make
command -v python3 >/dev/null 2>&1 || need python3
# The UI tests (test/ui.test.ts) drive Debian's chromium, headless, through playwright-core
# (executablePath: '/usr/bin/chromium'); no browser is ever downloaded.
if [ "${DROMOS_WITH_UI:-1}" != "0" ] && [ ! -x /usr/bin/chromium ]; then need chromium; fi

if [ ${#missing_pkgs[@]} -gt 0 ]; then
  log "missing system packages: ${missing_pkgs[*]}"
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO=(sudo)
    else
      printf 'setup: ERROR: these Debian packages are missing and this script is not root (no sudo):\n' >&2
      printf 'setup:   %s\n' "${missing_pkgs[*]}" >&2
      printf 'setup: install them as root:\n' >&2
      printf 'setup:   apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends %s\n' "${missing_pkgs[*]}" >&2
      exit 1
    fi
  fi
  if [ "$DRY_RUN" = 1 ]; then
    dry "${SUDO[*]+"${SUDO[*]} "}apt-get update"
    dry "${SUDO[*]+"${SUDO[*]} "}env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing_pkgs[*]}"
  else
    log "apt-get update"
    "${SUDO[@]+"${SUDO[@]}"}" apt-get update -qq
    log "apt-get install ${missing_pkgs[*]}"
    "${SUDO[@]+"${SUDO[@]}"}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}"
  fi
else
  log "system packages present"
fi

# ---------------------------------------------------------------------------
# 2. npm dependencies
# ---------------------------------------------------------------------------
# node-gyp needs Node's headers; use the local ones rather than downloading them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ] \
   && ! grep -qs '^nodedir' "$HOME/.npmrc"; then
  export npm_config_nodedir=/usr
fi

NPM_STAMP=node_modules/.package-lock.json
npm_reason=""
if [ ! -d node_modules ]; then
  npm_reason="node_modules is missing"
elif [ ! -f "$NPM_STAMP" ]; then
  npm_reason="$NPM_STAMP is missing"
elif [ package-lock.json -nt "$NPM_STAMP" ]; then
  npm_reason="package-lock.json is newer than node_modules"
elif [ package.json -nt "$NPM_STAMP" ]; then
  npm_reason="package.json is newer than node_modules"
fi

if [ -n "$npm_reason" ]; then
  log "npm dependencies: $npm_reason"
  if [ "$DRY_RUN" = 1 ]; then
    dry "npm ci  (falling back to npm install if the lock is out of date)"
  else
    if [ -f package-lock.json ] && npm ci --no-audit --no-fund; then
      :
    else
      log "npm ci failed (lock out of date or missing?); falling back to npm install"
      npm install --no-audit --no-fund || die "npm install failed"
    fi
    # npm may leave the stamp untouched when nothing changed; mark this state as done.
    [ -f "$NPM_STAMP" ] && touch "$NPM_STAMP"
  fi
else
  log "npm dependencies up to date"
fi

# require('better-sqlite3') alone succeeds even without the native addon (it is loaded
# lazily), so open an in-memory database to prove that the addon loads.
SQLITE_CHECK="new (require('better-sqlite3'))(':memory:').close()"
if [ "$DRY_RUN" != 1 ] || [ -d node_modules/better-sqlite3 ]; then
  if ! node -e "$SQLITE_CHECK" >/dev/null 2>&1; then
    if [ "$DRY_RUN" = 1 ]; then
      dry "npm rebuild better-sqlite3"
    else
      log "better-sqlite3 does not load; rebuilding it from source (takes ~1.5 min)"
      npm rebuild better-sqlite3 || die "npm rebuild better-sqlite3 failed (needs g++, make, python3)"
      node -e "$SQLITE_CHECK" || die "better-sqlite3 still does not load after rebuild"
    fi
  fi
fi

# ---------------------------------------------------------------------------
# 3. Docker daemon
# ---------------------------------------------------------------------------
DOCKER_SOCK=/var/run/docker.sock
DOCKER_TCP=""
case "${DOCKER_HOST:-}" in
  "") ;;
  unix://*) DOCKER_SOCK=${DOCKER_HOST#unix://} ;;
  tcp://*) DOCKER_TCP="http://${DOCKER_HOST#tcp://}" ;;
  *) die "unsupported DOCKER_HOST=$DOCKER_HOST (use unix:///path or tcp://host:port)" ;;
esac

docker_ping() {
  local out
  if [ -n "$DOCKER_TCP" ]; then
    out=$(curl -fsS --max-time 2 "$DOCKER_TCP/_ping" 2>/dev/null) || return 1
  else
    [ -S "$DOCKER_SOCK" ] || return 1
    out=$(curl -fsS --max-time 2 --unix-socket "$DOCKER_SOCK" http://x/_ping 2>/dev/null) || return 1
  fi
  [ "$out" = "OK" ]
}

docker_get() { # docker_get PATH -> body on stdout
  if [ -n "$DOCKER_TCP" ]; then
    curl -fsS --max-time 10 "$DOCKER_TCP$1"
  else
    curl -fsS --max-time 10 --unix-socket "$DOCKER_SOCK" "http://x$1"
  fi
}

wait_for_docker() { # wait_for_docker SECONDS [PID]
  local deadline=$((SECONDS + $1)) pid=${2:-}
  while [ $SECONDS -lt $deadline ]; do
    docker_ping && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.2
  done
  docker_ping
}

docker_started=0
if docker_ping; then
  log "docker daemon answers on ${DOCKER_HOST:-unix://$DOCKER_SOCK}"
elif [ -n "$DOCKER_TCP" ]; then
  die "DOCKER_HOST=$DOCKER_HOST does not answer /_ping; start that daemon or unset DOCKER_HOST"
else
  # A dockerd may already be starting (its pid file names a live process): wait for it
  # instead of starting a second one.
  existing_pid=""
  if [ "$DOCKER_SOCK" = /var/run/docker.sock ] && [ -f /var/run/docker.pid ]; then
    existing_pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    if [ -n "$existing_pid" ] && ! kill -0 "$existing_pid" 2>/dev/null; then existing_pid=""; fi
  fi

  LOG_FILE=${DROMOS_DOCKERD_LOG:-/var/log/dromos-dockerd.log}
  if [ -z "${DROMOS_DOCKERD_LOG:-}" ] && ! { [ -w /var/log ] || [ -w "$LOG_FILE" ]; }; then
    LOG_FILE=/tmp/dromos-dockerd.log
  fi

  if [ -n "$existing_pid" ]; then
    log "dockerd (pid $existing_pid) is running but $DOCKER_SOCK does not answer yet; waiting up to 30 s"
    if [ "$DRY_RUN" = 1 ]; then
      dry "wait up to 30 s for GET /_ping on $DOCKER_SOCK"
    else
      wait_for_docker 30 "$existing_pid" \
        || die "dockerd (pid $existing_pid) does not answer on $DOCKER_SOCK after 30 s"
    fi
  else
    [ "$(id -u)" -eq 0 ] || die "docker daemon is not running on $DOCKER_SOCK and starting it needs root: run 'sudo nohup dockerd --host unix://$DOCKER_SOCK &'"
    command -v dockerd >/dev/null 2>&1 || { [ "$DRY_RUN" = 1 ] || die "dockerd not found"; }
    # The package's init script is blocked on these machines: start dockerd directly.
    # dockerd starts and supervises its own containerd when none is running.
    DOCKERD_CMD=(dockerd --host "unix://$DOCKER_SOCK")
    # shellcheck disable=SC2206 # word splitting is intended
    [ -z "${DROMOS_DOCKERD_ARGS:-}" ] || DOCKERD_CMD+=(${DROMOS_DOCKERD_ARGS})
    if [ "$DOCKER_SOCK" != /var/run/docker.sock ] && [ -S /var/run/docker.sock ] \
       && [ -z "${DROMOS_DOCKERD_ARGS:-}" ]; then
      log "note: another dockerd may own /var/run/docker.sock; a second one would clash on its pid file and data root"
    fi
    if [ "$DRY_RUN" = 1 ]; then
      dry "nohup setsid ${DOCKERD_CMD[*]} >>$LOG_FILE 2>&1 &"
      dry "wait up to 30 s for GET /_ping on $DOCKER_SOCK"
    else
      log "starting ${DOCKERD_CMD[*]} (log: $LOG_FILE)"
      # setsid: its own session, so that the daemon outlives the terminal or CI job
      # that ran make (it stays a child of the script's process until the script exits).
      SETSID=(); command -v setsid >/dev/null 2>&1 && SETSID=(setsid)
      nohup "${SETSID[@]+"${SETSID[@]}"}" "${DOCKERD_CMD[@]}" >>"$LOG_FILE" 2>&1 </dev/null &
      dockerd_pid=$!
      disown "$dockerd_pid" 2>/dev/null || true
      if ! wait_for_docker 30 "$dockerd_pid"; then
        printf 'setup: last lines of %s:\n' "$LOG_FILE" >&2
        tail -n 20 "$LOG_FILE" >&2 || true
        if kill -0 "$dockerd_pid" 2>/dev/null; then
          die "dockerd (pid $dockerd_pid) did not answer GET /_ping on $DOCKER_SOCK within 30 s"
        fi
        die "dockerd exited before answering on $DOCKER_SOCK"
      fi
      log "dockerd (pid $dockerd_pid) answers on $DOCKER_SOCK"
      docker_started=1
    fi
  fi
fi

# Check that the daemon can talk to containerd (only after we started it: this costs a
# little time, and a daemon that was already up has been checked before).
if [ "$docker_started" = 1 ]; then
  if info=$(docker_get /info 2>/dev/null) && printf '%s' "$info" | grep -q '"ServerVersion"'; then
    if printf '%s' "$info" | grep -q '"ContainerdCommit":{"ID":"[^"]'; then
      log "dockerd is up and reports containerd"
    else
      log "warning: dockerd answered /info but reports no containerd; see $LOG_FILE"
    fi
  else
    die "dockerd answers /_ping but not /info; see $LOG_FILE"
  fi
fi

log "ready"
