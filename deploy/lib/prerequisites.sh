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
