#!/usr/bin/env bash
# Install the system packages the test suite needs: a PostgreSQL server (the
# tests start throwaway clusters with initdb/pg_ctl), Chromium (driven by
# Playwright through executable_path; no browser download step is ever run)
# and pango (WeasyPrint's renderer for the printed documents' PDFs).
# Idempotent and silent when everything is already present.
set -euo pipefail

have_initdb() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' > /dev/null
}

have_chromium() {
    [ -x /usr/bin/chromium ]
}

# Chinese text in screenshots needs a CJK font (Chromium shows boxes without one).
have_cjk_font() {
    compgen -G '/usr/share/fonts/truetype/wqy/wqy-microhei.tt*' > /dev/null
}

# WeasyPrint (printed documents as PDF) renders with pango.
have_pango() {
    ldconfig -p | grep -q 'libpangoft2-1.0.so.0'
}

if have_initdb && have_chromium && have_cjk_font && have_pango; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo > /dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-system-deps: PostgreSQL and/or Chromium are missing and this is not root (no sudo)." >&2
    echo "install-system-deps: install them yourself: apt-get install -y postgresql chromium" >&2
    exit 1
fi

if ! command -v apt-get > /dev/null 2>&1; then
    echo "install-system-deps: apt-get not found; install PostgreSQL (initdb, pg_ctl) and Chromium yourself." >&2
    exit 1
fi

echo "install-system-deps: installing postgresql and chromium with apt-get" >&2

# Another apt/dpkg run (e.g. unattended upgrades) may hold the lock: wait for it.
apt_retry() {
    local tries=0
    until "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive "$@"; do
        tries=$((tries + 1))
        if [ "$tries" -ge 30 ]; then
            echo "install-system-deps: '$*' kept failing" >&2
            return 1
        fi
        echo "install-system-deps: '$*' failed (apt busy?); retrying in 10 s" >&2
        sleep 10
    done
}

apt_retry apt-get -o DPkg::Lock::Timeout=300 update -qq
apt_retry apt-get -o DPkg::Lock::Timeout=300 install -y -qq postgresql chromium fonts-wqy-microhei libpango-1.0-0 libpangoft2-1.0-0

if ! have_initdb || ! have_chromium || ! have_pango; then
    echo "install-system-deps: PostgreSQL, Chromium or pango still missing after apt-get install" >&2
    exit 1
fi
