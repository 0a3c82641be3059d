#!/usr/bin/env bash
# Headless Chromium and its WebDriver, for the browser tests (tests/browser) and
# `make screenshots`: Debian's `chromium` and `chromium-driver` packages.
#
# Installs them only when one is missing and this runs as root with apt-get (as on the
# project's machines and CI). Anywhere else it only says what is missing and exits 0: the
# rest of `make install` still works, and the browser tests fail under CI (CI=true), or
# skip on a developer's machine, naming what to install.
set -euo pipefail

missing() {
    command -v chromium >/dev/null 2>&1 || return 0
    command -v chromedriver >/dev/null 2>&1 || return 0
    return 1
}

if ! missing; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: chromium or chromedriver is missing; install Debian's" \
        "'chromium' and 'chromium-driver' packages (needs root) for the browser tests" >&2
    exit 0
fi
echo "ensure-chromium: installing Debian's chromium and chromium-driver" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt run on the machine holds the lock for a while: wait for it, do not fail.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 "$@"; }
apt_get update -qq
apt_get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
if missing; then
    echo "ensure-chromium: apt-get ran but chromium or chromedriver is still missing" >&2
    exit 1
fi
