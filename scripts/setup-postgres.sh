#!/usr/bin/env bash
# PostgreSQL for the store tests and the benchmark: Debian's `postgresql` package (initdb, pg_ctl,
# psql), installed if missing. No service is started or enabled: the tests and the benchmark start
# a throw-away cluster of their own, as an unprivileged user, in a temporary directory
# (tests/store/pgcluster.py). Sourced by scripts/test.sh, it also sets SOFTHSM_PY_REQUIRE_PG=1:
# then a missing PostgreSQL fails the PostgreSQL tests instead of skipping them.
set -euo pipefail  # (scripts/test.sh sets the same)
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: postgresql"
    $sudo apt-get update -qq
    # A policy-rc.d that refuses service starts: the package's own cluster is not needed.
    blocked=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod +x /usr/sbin/policy-rc.d
        blocked=1
    fi
    status=0
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql \
        >/dev/null || status=$?
    [ -z "$blocked" ] || $sudo rm -f /usr/sbin/policy-rc.d
    [ "$status" -eq 0 ] || { echo "installing postgresql failed" >&2; exit "$status"; }
fi
export SOFTHSM_PY_REQUIRE_PG=1
