#!/usr/bin/env bash
# Build local stand-ins for the base images the project names, for machines that cannot pull
# from a registry (see shared/CONTAINERS.md): a minimal Debian bookworm made with debootstrap,
# `python:3.11-slim` on top of it, and the Redis image docker-compose.yml names.
#
# Usage: scripts/build_base_images.sh [--force]
#   Tags that already exist are kept unless --force is given.
#   Env: PYTHON_IMAGE (python:3.11-slim), REDIS_IMAGE (redis:7), MINBASE_IMAGE,
#        DEBIAN_MIRROR (default: the first URIs: line of the host's apt sources).
# Needs: root, a running Docker engine, debootstrap.
set -euo pipefail

PYTHON_IMAGE=${PYTHON_IMAGE:-python:3.11-slim}
REDIS_IMAGE=${REDIS_IMAGE:-redis:7}
MINBASE_IMAGE=${MINBASE_IMAGE:-debian-minbase:bookworm}
SOURCES=/etc/apt/sources.list.d/debian.sources
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

log() { printf '[base-images] %s\n' "$*" >&2; }
have_image() { [[ $FORCE == 0 ]] && docker image inspect "$1" >/dev/null 2>&1; }

WORK=$(mktemp -d /tmp/gan-base-images.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

build_minbase() {
    if have_image "$MINBASE_IMAGE"; then log "$MINBASE_IMAGE exists, kept"; return; fi
    local mirror=${DEBIAN_MIRROR:-}
    if [[ -z $mirror && -f $SOURCES ]]; then
        mirror=$(awk '/^URIs:/ {print $2; exit}' "$SOURCES")
    fi
    mirror=${mirror:-http://deb.debian.org/debian}
    log "debootstrap minbase bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log" >&2; log "debootstrap failed"; exit 1; }
    if [[ -f $SOURCES ]]; then
        rm -f "$WORK/rootfs/etc/apt/sources.list"
        cp "$SOURCES" "$WORK/rootfs/etc/apt/sources.list.d/debian.sources"
    fi
    rm -rf "$WORK/rootfs/var/lib/apt/lists/"* "$WORK/rootfs/var/cache/apt/archives/"*.deb
    tar -C "$WORK/rootfs" -c . | docker import --change 'CMD ["/bin/bash"]' - "$MINBASE_IMAGE" >/dev/null
    rm -rf "$WORK/rootfs"
    log "built $MINBASE_IMAGE"
}

build_python() {
    if have_image "$PYTHON_IMAGE"; then log "$PYTHON_IMAGE exists, kept"; return; fi
    local ctx="$WORK/python"
    mkdir -p "$ctx/certs"
    # HTTPS here may go through an intercepting proxy: pip inside the image needs its CA.
    cp /usr/local/share/ca-certificates/*.crt "$ctx/certs/" 2>/dev/null || true
    touch "$ctx/certs/.keep"
    cat >"$ctx/Dockerfile" <<EOF
FROM $MINBASE_IMAGE
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3 python3-pip python3-venv ca-certificates \\
 && rm -rf /var/lib/apt/lists/* \\
 && ln -sf /usr/bin/python3 /usr/local/bin/python \\
 && ln -sf /usr/bin/python3 /usr/local/bin/python3 \\
 && ln -sf /usr/bin/pip3 /usr/local/bin/pip \\
 && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \\
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \\
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
EOF
    log "building $PYTHON_IMAGE stand-in"
    docker build -q -t "$PYTHON_IMAGE" "$ctx" >/dev/null
    log "built $PYTHON_IMAGE"
}

build_redis() {
    if have_image "$REDIS_IMAGE"; then log "$REDIS_IMAGE exists, kept"; return; fi
    local ctx="$WORK/redis"
    mkdir -p "$ctx"
    # Like the official image: protected mode off (the server sits on a private network).
    cat >"$ctx/entrypoint.sh" <<'EOF'
#!/bin/sh
if [ "$1" = redis-server ]; then shift; exec redis-server "$@" --protected-mode no; fi
exec "$@"
EOF
    cat >"$ctx/Dockerfile" <<EOF
FROM $MINBASE_IMAGE
COPY entrypoint.sh /usr/local/bin/redis-entrypoint
RUN apt-get update \\
 && apt-get install -y --no-install-recommends redis-server \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /data && chown redis:redis /data \\
 && chmod 0755 /usr/local/bin/redis-entrypoint
WORKDIR /data
EXPOSE 6379
USER redis
ENTRYPOINT ["/usr/local/bin/redis-entrypoint"]
CMD ["redis-server"]
EOF
    log "building $REDIS_IMAGE stand-in"
    docker build -q -t "$REDIS_IMAGE" "$ctx" >/dev/null
    log "built $REDIS_IMAGE"
}

docker info >/dev/null 2>&1 || { log "no Docker engine answers"; exit 1; }
build_minbase
build_python
build_redis
