#!/usr/bin/env bash
# make build | up | down | logs | push: docker compose where a Docker engine answers, else podman
# with its Docker-compatible API and Debian's docker-compose (COMPOSE overrides the command).
#
# With podman: containers.conf (runc, the engine's own ulimits) comes from this folder; the API
# listens on .containers/podman.sock while the stack runs (`down` stops it); base images that
# cannot be pulled get stand-ins (stand-in-images.sh); and, since podman runs healthchecks from
# systemd timers that a machine without systemd lacks, `up` runs them itself until every
# container is healthy, which is what `docker compose up --wait` does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"
command=${1:?usage: containers/compose.sh build|up|down|logs|push|compose ARGS}
functions=(submit status render graph)
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-tumorscope}
#: How long `up` waits for every container to be healthy.
up_seconds=${UP_SECONDS:-300}

say() { echo "containers: $*" >&2; }

# shellcheck source=containers/need.sh
. "$here/need.sh"

if [ -n "${COMPOSE:-}" ]; then
    compose=($COMPOSE)
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    compose=(docker compose)
else
    need podman "podman runc netavark aardvark-dns containernetworking-plugins uidmap"
    need runc runc
    need docker-compose docker-compose
    state=$root/.containers
    mkdir -p "$state"
    # The project's settings, plus this machine's CA bundle and pip settings for pip inside a build,
    # where they exist (behind a TLS-inspecting proxy nothing else reaches the package index).
    mounts=()
    for file in /etc/ssl/certs/ca-certificates.crt /etc/pip.conf; do
        [ -f "$file" ] && mounts+=("\"$file:$file:ro\"")
    done
    sed "s|^default_ulimits = \[\]|&\nvolumes = [$(IFS=,; echo "${mounts[*]}")]|" \
        "$here/containers.conf" >"$state/containers.conf"
    export CONTAINERS_CONF=$state/containers.conf
    socket=$state/podman.sock
    export DOCKER_HOST=unix://$socket
    if ! curl -sf --unix-socket "$socket" http://d/_ping >/dev/null 2>&1; then
        podman system service --time=0 "unix://$socket" >"$state/service.log" 2>&1 &
        echo $! >"$state/service.pid"
        for _ in $(seq 100); do
            curl -sf --unix-socket "$socket" http://d/_ping >/dev/null 2>&1 && break
            sleep 0.1
        done
    fi
    compose=(docker-compose)
    engine=podman
fi

# Run the healthchecks of the project's containers every 2 s while "$@" runs, then until all are healthy.
healthy_within() {
    local deadline=$((SECONDS + up_seconds)) running=1 pid
    "$@" &
    pid=$!
    while [ $SECONDS -lt $deadline ]; do
        local unhealthy=0
        for container in $(podman ps --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" --format '{{.Names}}'); do
            podman healthcheck run "$container" >/dev/null 2>&1 || unhealthy=1
        done
        if [ $running = 1 ] && ! kill -0 $pid 2>/dev/null; then
            wait $pid || return 1
            running=0
        fi
        [ $running = 0 ] && [ $unhealthy = 0 ] && return 0
        sleep 2
    done
    say "not every container was healthy within $up_seconds s"
    return 1
}

build() {
    [ "${engine:-}" != podman ] || "$here/stand-in-images.sh"
    "${compose[@]}" build "${functions[@]}"
}

case $command in
    build)
        build
        ;;
    push)
        "${compose[@]}" push "${functions[@]}"
        ;;
    up)
        if [ "${engine:-}" != podman ]; then
            "${compose[@]}" up --build --detach --wait
        else
            build
            healthy_within "${compose[@]}" up --detach --no-build
        fi
        say "up: the gateway answers on http://localhost:5000"
        ;;
    down)
        "${compose[@]}" down "${@:2}"
        if [ "${engine:-}" = podman ] && [ -f "$state/service.pid" ]; then
            kill "$(cat "$state/service.pid")" 2>/dev/null || true
            rm -f "$state/service.pid" "$socket"
        fi
        ;;
    logs)
        "${compose[@]}" logs --follow
        ;;
    compose)  # any other compose command, with the engine set up: compose.sh compose kill redis
        "${compose[@]}" "${@:2}"
        ;;
    *)
        say "unknown command $command: build, up, down, logs or push"
        exit 2
        ;;
esac
