# Shared by deploy/test and deploy/demo: install what Kakehashi needs when it is missing.
# Sourced, not run. Every function is idempotent and quiet when nothing is missing.

# Debian/Ubuntu packages: the C libraries of the system-library targets, the broker and clients.
KAKEHASHI_APT_PACKAGES=(pkg-config libmosquitto-dev libbluetooth-dev libsqlite3-dev libssl-dev mosquitto mosquitto-clients openssl)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root to run: $* (run as root or install sudo)"
    fi
}

ensure_apt_packages() {
    local missing=() pkg
    for pkg in "${KAKEHASHI_APT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get to install them"
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_swift() {
    command -v swift >/dev/null 2>&1 || die "swift is not on PATH: install Swift 6.x from https://www.swift.org/install/linux/ and retry"
}

# Python with jsonschema (the Smart Data Models schema check of the tests) and lxml (the CAP check). Exports KAKEHASHI_PYTHON.
ensure_python_jsonschema() {
    local python="${KAKEHASHI_PYTHON:-python3}"
    if ! command -v "$python" >/dev/null 2>&1; then
        ensure_apt_packages python3
        python=python3
    fi
    # lxml: the CAP 1.2 XML schema check (an XML library other than Kakehashi's own writer).
    local check='import jsonschema, rfc3339_validator, lxml.etree'
    if ! "$python" -c "$check" 2>/dev/null; then
        log "installing Python jsonschema, rfc3339-validator and lxml"
        "$python" -m pip install --quiet jsonschema rfc3339-validator lxml 2>/dev/null \
            || "$python" -m pip install --quiet --break-system-packages jsonschema rfc3339-validator lxml 2>/dev/null \
            || ensure_apt_packages python3-jsonschema python3-rfc3339-validator python3-lxml
    fi
    "$python" -c "$check" || die "$python cannot import jsonschema, rfc3339_validator and lxml"
    export KAKEHASHI_PYTHON="$python"
}

# The dashboard's browser test: Debian's Chromium and its driver, Japanese fonts (for the
# screenshots), and Selenium from PyPI.
ensure_browser_test() {
    ensure_apt_packages chromium chromium-driver fonts-noto-cjk python3
    local python="${KAKEHASHI_PYTHON:-python3}"
    if ! "$python" -c 'import selenium' 2>/dev/null; then
        log "installing Python selenium"
        "$python" -m pip install --quiet selenium 2>/dev/null \
            || "$python" -m pip install --quiet --break-system-packages selenium 2>/dev/null \
            || ensure_apt_packages python3-selenium
    fi
    "$python" -c 'import selenium' || die "$python cannot import selenium"
}

# The PyPI NGSI-LD client the tests drive the hub with, unmodified, in its own virtual environment
# (.build/ngsild-venv: its pinned dependencies stay apart). Exports KAKEHASHI_NGSILD_PYTHON.
KAKEHASHI_NGSILDCLIENT_VERSION=0.5.2
ensure_ngsildclient() {
    local venv=.build/ngsild-venv python="${KAKEHASHI_PYTHON:-python3}"
    if ! "$venv/bin/python" -c 'import ngsildclient' 2>/dev/null; then
        log "installing ngsildclient $KAKEHASHI_NGSILDCLIENT_VERSION from PyPI into $venv"
        rm -rf "$venv"
        "$python" -m venv "$venv" 2>/dev/null || { ensure_apt_packages python3-venv && python3 -m venv "$venv"; } \
            || die "cannot create a Python virtual environment in $venv"
        "$venv/bin/pip" install --quiet "ngsildclient==$KAKEHASHI_NGSILDCLIENT_VERSION" >&2 \
            || die "pip could not install ngsildclient==$KAKEHASHI_NGSILDCLIENT_VERSION"
    fi
    KAKEHASHI_NGSILD_PYTHON="$(pwd)/$venv/bin/python"
    export KAKEHASHI_NGSILD_PYTHON
}

# ThingsBoard IoT Gateway from PyPI in its own virtual environment (.build/thingsboard-venv), for the
# benchmark's side-by-side comparison. Prints the path of its `thingsboard-gateway` executable.
KAKEHASHI_THINGSBOARD_VERSION=3.8.5
ensure_thingsboard_gateway() {
    local venv=.build/thingsboard-venv python="${KAKEHASHI_PYTHON:-python3}"
    if [ ! -x "$venv/bin/thingsboard-gateway" ]; then
        log "installing ThingsBoard IoT Gateway $KAKEHASHI_THINGSBOARD_VERSION from PyPI into $venv"
        "$python" -m venv "$venv" 2>/dev/null || { ensure_apt_packages python3-venv && python3 -m venv "$venv"; } \
            || die "cannot create a Python virtual environment in $venv"
        "$venv/bin/pip" install --quiet "thingsboard-gateway==$KAKEHASHI_THINGSBOARD_VERSION" >&2 \
            || die "pip could not install thingsboard-gateway==$KAKEHASHI_THINGSBOARD_VERSION"
    fi
    echo "$venv/bin/thingsboard-gateway"
}

# Fails when the build log holds a warning in this repository's own code.
check_no_warnings() {
    local logfile=$1 root
    root=$(pwd)
    if grep -E "^${root}/(Sources|Tests|simulators)/[^:]+:[0-9]+:[0-9]+: warning:" "$logfile" | sort -u; then
        die "the build has warnings in Kakehashi's code (listed above); fix them"
    fi
}

# Stops test brokers left behind by a test process that was killed before it could stop them.
stop_stray_test_brokers() {
    pkill -f "kakehashi-broker-[0-9A-F-]*/mosquitto.conf" 2>/dev/null || true
}

# PostgreSQL's server (Debian's postgresql: 15 on bookworm), for the PostgreSQL store's tests and
# `deploy/demo --hubs N`. Exports KAKEHASHI_PG_BIN (the server binaries' folder).
ensure_postgres() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
        ensure_apt_packages postgresql
        bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    fi
    [ -x "$bin/postgres" ] || die "PostgreSQL's server is not in /usr/lib/postgresql/*/bin after installing postgresql"
    export KAKEHASHI_PG_BIN="$bin"
}

# A throwaway PostgreSQL cluster: initdb in a new folder under $1 (a folder the server's user may
# enter), the server on a free loopback
# port with its socket in that folder, trust authentication for the superuser `kakehashi`. Sets
# KAKEHASHI_PG_URL (postgres://kakehashi@127.0.0.1:PORT/postgres) and KAKEHASHI_PG_PID; stop it
# with stop_throwaway_postgres (by that pid). PostgreSQL will not run as root: under root the
# folder belongs to, and the server runs as, the `postgres` user.
start_throwaway_postgres() {
    local parent=$1 dir port as=() tries=0
    ensure_postgres
    dir=$(mktemp -d "$parent/postgres.XXXXXX")
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$dir"
        as=(setpriv --reuid=postgres --regid=postgres --clear-groups --)
    fi
    "${as[@]}" "$KAKEHASHI_PG_BIN/initdb" -D "$dir/data" -U kakehashi --auth=trust -E UTF8 --locale=C.UTF-8 \
        --no-sync --no-instructions >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "${as[@]}" "$KAKEHASHI_PG_BIN/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
        -c fsync=off -c full_page_writes=off -c max_connections=300 >"$dir/postgres.log" 2>&1 &
    KAKEHASHI_PG_PID=$!
    until "$KAKEHASHI_PG_BIN/pg_isready" -h 127.0.0.1 -p "$port" -q; do
        kill -0 "$KAKEHASHI_PG_PID" 2>/dev/null || { cat "$dir/postgres.log" >&2; die "postgres exited on start"; }
        tries=$((tries + 1))
        [ "$tries" -lt 300 ] || { cat "$dir/postgres.log" >&2; die "postgres did not accept connections within 30 s"; }
        sleep 0.1
    done
    export KAKEHASHI_PG_URL="postgres://kakehashi@127.0.0.1:$port/postgres" KAKEHASHI_PG_PID
    log "PostgreSQL $("$KAKEHASHI_PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (pid $KAKEHASHI_PG_PID)"
}

stop_throwaway_postgres() {
    [ -n "${KAKEHASHI_PG_PID:-}" ] || return 0
    kill -INT "$KAKEHASHI_PG_PID" 2>/dev/null || true
    local tries=0
    while kill -0 "$KAKEHASHI_PG_PID" 2>/dev/null && [ "$tries" -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
    kill -KILL "$KAKEHASHI_PG_PID" 2>/dev/null || true
    KAKEHASHI_PG_PID=
}
