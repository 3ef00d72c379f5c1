#!/usr/bin/env bash
# Start the services the test suite needs: a Docker engine, a Docker registry on
# 127.0.0.1:5000, and a Python base image built without Docker Hub.
#
# Runs as root on Debian bookworm. Every step is idempotent and skips itself when its
# result already exists, so a second run takes a few seconds. The variables the tests
# read are printed and written to $KINETIC_CI_WORK/services.env for `.ci/run` to source.
#
# Settings (environment variables):
#   KINETIC_CI_WORK        work directory (default: <repo>/.ci-work)
#   KINETIC_CI_SUITE       Debian suite of the base image (default: bookworm, whose
#                          python3 is 3.11 like the CI's interpreter)
#   KINETIC_CI_REGISTRY    registry address (default: 127.0.0.1:5000)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${KINETIC_CI_WORK:-$REPO_ROOT/.ci-work}"
SUITE="${KINETIC_CI_SUITE:-bookworm}"
REGISTRY="${KINETIC_CI_REGISTRY:-127.0.0.1:5000}"
BASE_NAME="kinetic-test/python:3.11"
BASE_REF="$REGISTRY/$BASE_NAME"
ENGINE_WAIT_S=60
REGISTRY_WAIT_S=30

mkdir -p "$WORK"

log() { printf 'services: %s\n' "$*" >&2; }
fail() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

# Run one named step and print how long it took.
step() {
    local name="$1"
    shift
    local started=$SECONDS
    log "$name ..."
    "$@"
    log "$name done in $((SECONDS - started)) s"
}

install_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v docker-registry >/dev/null || missing+=(docker-registry)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v curl >/dev/null || missing+=(curl)
    if [ "${#missing[@]}" -eq 0 ]; then
        log "packages already installed"
        return
    fi
    log "installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# dockerd's flags: --iptables=false because this sandbox has no netfilter, vfs because
# overlayfs cannot be mounted inside it, and --bridge=none so the engine creates no
# private-range bridge network. Builds and containers therefore use network_mode=host.
start_engine() {
    if docker info >/dev/null 2>&1; then
        log "Docker engine already running"
        return
    fi
    log "starting dockerd, log in $WORK/dockerd.log"
    setsid nohup dockerd --iptables=false --ip6tables=false --storage-driver=vfs --bridge=none \
        >"$WORK/dockerd.log" 2>&1 </dev/null &
    local waited=0
    until docker info >/dev/null 2>&1; do
        if [ "$waited" -ge "$ENGINE_WAIT_S" ]; then
            tail -n 20 "$WORK/dockerd.log" >&2 || true
            fail "dockerd did not respond within ${ENGINE_WAIT_S} s; its log is $WORK/dockerd.log"
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

registry_responds() {
    curl -fs -o /dev/null --max-time 2 "http://$REGISTRY/v2/"
}

start_registry() {
    if registry_responds; then
        log "registry already responding on $REGISTRY"
        return
    fi
    mkdir -p "$WORK/registry/storage"
    cat >"$WORK/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $WORK/registry/storage
  delete:
    enabled: true
http:
  addr: $REGISTRY
EOF
    log "starting docker-registry on $REGISTRY, log in $WORK/registry/registry.log"
    setsid nohup docker-registry serve "$WORK/registry/config.yml" \
        >"$WORK/registry/registry.log" 2>&1 </dev/null &
    local waited=0
    until registry_responds; do
        if [ "$waited" -ge "$REGISTRY_WAIT_S" ]; then
            tail -n 20 "$WORK/registry/registry.log" >&2 || true
            fail "registry did not respond on http://$REGISTRY/v2/ within ${REGISTRY_WAIT_S} s"
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

# Print the Debian mirror URI of this machine's apt sources for $SUITE: the first deb822
# stanza whose Suites list $SUITE itself (so not $SUITE-security), else the first
# one-line `deb` entry of /etc/apt/sources.list for $SUITE.
debian_mirror() {
    local uri=""
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        uri="$(awk -v suite="$SUITE" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uris != "") {
                    split(uris, parts, " ")
                    print parts[1]
                    found = 1
                    exit
                }
                types = ""; suites = ""; uris = ""
            }
            /^[[:space:]]*$/ { flush(); next }
            /^[[:space:]]*#/ { next }
            tolower($1) == "types:"  { $1 = ""; types = substr($0, 2) }
            tolower($1) == "suites:" { $1 = ""; suites = substr($0, 2) }
            tolower($1) == "uris:"   { $1 = ""; uris = substr($0, 2) }
            END { if (!found) flush() }
        ' "$file")"
        [ -n "$uri" ] && break
    done
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri="$(awk -v suite="$SUITE" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }' /etc/apt/sources.list)"
    fi
    [ -n "$uri" ] || fail "no apt source for suite '$SUITE' in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; add one or set KINETIC_CI_SUITE"
    printf '%s\n' "$uri"
}

# The rootfs tarball is cached in $WORK so that a rerun on the same machine skips
# debootstrap. python-is-python3 makes `python` the image's python3.
build_rootfs_tarball() {
    local tarball="$WORK/base/python-$SUITE-rootfs.tar"
    if [ -s "$tarball" ]; then
        log "rootfs tarball cached at $tarball"
        return
    fi
    local mirror
    mirror="$(debian_mirror)"
    local rootfs="$WORK/base/rootfs"
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    log "debootstrap $SUITE from $mirror, log in $WORK/base/debootstrap.log"
    if ! debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
        "$SUITE" "$rootfs" "$mirror" >"$WORK/base/debootstrap.log" 2>&1; then
        tail -n 30 "$WORK/base/debootstrap.log" >&2 || true
        fail "debootstrap failed; its log is $WORK/base/debootstrap.log"
    fi
    # Package caches and apt lists are not needed at run time and only make the image larger.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
    rm -rf "$rootfs"
}

# Skipped when the engine already has the image, so the rootfs is only made on a new machine.
build_base_image() {
    if docker image inspect "$BASE_REF" >/dev/null 2>&1; then
        log "image $BASE_REF already in the engine"
        return
    fi
    build_rootfs_tarball
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        "$WORK/base/python-$SUITE-rootfs.tar" "$BASE_REF" >/dev/null
    docker tag "$BASE_REF" "$BASE_NAME"
}

push_base_image() {
    local repo="${BASE_NAME%%:*}"
    local tag="${BASE_NAME##*:}"
    if curl -fs -o /dev/null --max-time 5 -I \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://$REGISTRY/v2/$repo/manifests/$tag"; then
        log "image $BASE_REF already in the registry"
        return
    fi
    docker push "$BASE_REF" >"$WORK/base/push.log" 2>&1 || {
        tail -n 20 "$WORK/base/push.log" >&2
        fail "pushing $BASE_REF failed; its log is $WORK/base/push.log"
    }
}

write_env() {
    local env_file="$WORK/services.env"
    cat >"$env_file" <<EOF
export DOCKER_HOST=unix:///var/run/docker.sock
export KINETIC_TEST_REGISTRY=$REGISTRY
export KINETIC_TEST_BASE_IMAGE=$BASE_REF
export KINETIC_TEST_NETWORK_MODE=host
export KINETIC_TEST_CA_CERT=/etc/ssl/certs/ca-certificates.crt
EOF
    log "wrote $env_file"
    cat "$env_file"
}

total_started=$SECONDS
mkdir -p "$WORK/base"
step "install packages" install_packages
step "start Docker engine" start_engine
step "start registry" start_registry
step "build base image" build_base_image
step "push base image" push_base_image
write_env
log "all services ready in $((SECONDS - total_started)) s"
