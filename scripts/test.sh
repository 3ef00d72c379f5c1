#!/usr/bin/env bash
# Install what the tests need, start the services they use (Docker engine, local registry,
# base image), and run the whole test suite. Run from anywhere; needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing kinetic with its test and example dependencies"
python3 -m pip install --quiet --disable-pip-version-check -e '.[test,docker,examples]'

echo "== starting services (Docker engine, registry, base image)"
bash .ci/services.sh
if [ -f .ci-work/services.env ]; then
    set -a
    # shellcheck disable=SC1091
    . .ci-work/services.env
    set +a
fi

echo "== running the tests"
python3 -m pytest -q -ra "$@"
