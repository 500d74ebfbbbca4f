#!/usr/bin/env bash
# Make sure podman has the base images the Dockerfile and docker-compose.yml name: pulled where a
# registry answers, else stand-ins built from Debian's packages (python3, redis-server, nginx) and
# tagged under the very same names, so both files run unchanged. Test scaffolding only: what
# differs from the official images is in docs/deploy.md. Images already there are kept, so the
# ~4-minute debootstrap happens once per machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=localhost/tumorscope-stand-in-base:bookworm

# The names, read from the files that use them: docker.io/library/<name> is what they mean.
python_image=$(sed -n 's/^ARG PYTHON_IMAGE=//p' "$root/Dockerfile")
redis_image=$(grep -oE 'image: redis:[^ ]+' "$root/docker-compose.yml" | head -n 1 | cut -d' ' -f2)
nginx_image=$(grep -oE 'image: nginx:[^ ]+' "$root/docker-compose.yml" | head -n 1 | cut -d' ' -f2)
declare -A wanted=([python]=$python_image [redis]=$redis_image [nginx]=$nginx_image)

missing=()
for kind in python redis nginx; do
    name=docker.io/library/${wanted[$kind]}
    if podman image exists "$name"; then
        continue
    fi
    if timeout 60 podman pull --quiet "$name" >/dev/null 2>&1; then
        echo "stand-in-images: pulled $name"
    else
        missing+=("$kind")
    fi
done
[ ${#missing[@]} -gt 0 ] || exit 0

if ! podman image exists "$base"; then
    echo "stand-in-images: no registry answers; building $base from Debian with debootstrap (~4 min)"
    # shellcheck source=containers/need.sh
    . "$here/need.sh"
    need debootstrap debootstrap
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase \
        --include=python3,python3-venv,ca-certificates,redis-server,nginx-light,gettext-base,wget \
        bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
        || { tail -n 20 "$rootfs.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs.log"
    tar -C "$rootfs" -c . | podman import --quiet - "$base" >/dev/null
fi
for kind in "${missing[@]}"; do
    name=docker.io/library/${wanted[$kind]}
    echo "stand-in-images: $name is a stand-in built from Debian's packages ($here/stand-ins/$kind.Containerfile)"
    podman build --quiet --label org.tumorscope.stand-in=true -t "$name" \
        -f "$here/stand-ins/$kind.Containerfile" "$here/stand-ins" >/dev/null
done
