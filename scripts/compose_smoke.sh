#!/usr/bin/env bash
# The real compose smoke test: images built, containers started, the user's flow walked through
# the published port, a worker killed mid-job. Leaves nothing running.
#
#   sudo scripts/compose_smoke.sh          (root: it may install packages and start dockerd)
#
# 1. apt-get installs docker.io, docker-compose and debootstrap if missing.
# 2. dockerd is started by hand with a pidfile, unless an engine already answers (then it is
#    used and left running).
# 3. Local stand-ins for python:3.11-slim and redis:7 (scripts/build_base_images.sh; cached).
# 4. The project's CPU image, from the local PyTorch wheel (pip config's find-links).
# 5. docker-compose up with two workers, with the secrets and remote-workers overrides: the
#    API key and a Redis password in secret files, Redis published with that password, the
#    models and data volumes on a "shared" folder; wait until healthy.
# 6. Through the published port, with the project's client: a training job with the API key,
#    followed to success, then samples from the model it published; a labelled zip uploaded,
#    a conditional job on it watched to the end and one class sampled; two jobs running at
#    once on the two workers; one worker killed mid-job, `docker-compose start worker`, and its
#    job finishes.
# 7. A worker "on another host": a second compose project with only a worker, reaching Redis
#    through the host's published port with the password and sharing only the folder; the
#    first project's workers stopped, a job submitted to the API is trained by it and served.
# 8. down -v for both, and dockerd stopped by its pid if this script started it.
#
# Env: SMOKE_PROJECT (compose project name, default gansmoke), SMOKE_PORT (default: a free one),
#      SMOKE_KEEP_WHEEL=1 (leave the copied torch wheel in wheels/), TORCH_WHEEL (path).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROJECT=${SMOKE_PROJECT:-gansmoke}
# The steps use the project's client (gan_client): the venv's Python when there is one.
SMOKE_PY=${SMOKE_PY:-$ROOT/.venv/bin/python}
[[ -x $SMOKE_PY ]] || SMOKE_PY=python3
CLIENT=("$SMOKE_PY" "$ROOT/scripts/compose_smoke_client.py")
DOCKERD_PIDFILE=/tmp/gan-smoke-dockerd.pid
DOCKERD_LOG=/tmp/gan-smoke-dockerd.log
STARTED_DOCKERD=0
COMPOSE_UP=0
REMOTE_UP=0
COPIED_WHEEL=""
WORK=$(mktemp -d /tmp/gan-smoke.XXXXXX)
STAGES=()
CURRENT_STAGE=""
T_START=$(date +%s%3N)

# The host's own settings must not leak into the test deployment.
while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(GAN_|COMPOSE_)' || true)

log() { printf '[smoke %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
    local where=""
    [[ -z $CURRENT_STAGE ]] || where=" in stage \"$CURRENT_STAGE\""
    log "FAIL$where: $*"
    exit 1
}

ms_since() { echo $(($(date +%s%3N) - $1)); }
fmt_ms() { printf '%d.%01d s' $(($1 / 1000)) $((($1 % 1000) / 100)); }

stage() {
    local name=$1 t0
    shift
    CURRENT_STAGE=$name
    log "== $name"
    t0=$(date +%s%3N)
    "$@"
    local took
    took=$(ms_since "$t0")
    STAGES+=("$(printf '%-44s %10s' "$name" "$(fmt_ms "$took")")")
    log "   $name: $(fmt_ms "$took")"
    CURRENT_STAGE=""
}

print_timings() {
    printf '\n%-44s %10s\n' "stage" "time"
    printf '%s\n' "${STAGES[@]}"
    printf '%-44s %10s\n' "total" "$(fmt_ms "$(ms_since "$T_START")")"
}

FILES=(-f "$ROOT/docker-compose.yml" -f "$ROOT/docker-compose.secrets.yml"
    -f "$ROOT/docker-compose.remote-workers.yml")
dc() {
    docker-compose -p "$PROJECT" --project-directory "$ROOT" "${FILES[@]}" \
        --env-file "$WORK/smoke.env" "$@"
}
# The "other host": its own project (network, containers), the same files, secrets and folder.
dc_remote() {
    docker-compose -p "$PROJECT-remote" --project-directory "$ROOT" "${FILES[@]}" \
        --env-file "$WORK/remote.env" "$@"
}

cleanup() {
    local rc=$?
    set +e
    if [[ $rc != 0 && $COMPOSE_UP == 1 ]]; then
        log "--- container states"
        dc ps >&2
        log "--- last log lines"
        dc logs --no-color --tail 60 >&2
    fi
    if [[ $REMOTE_UP == 1 ]]; then
        [[ $rc == 0 ]] || dc_remote logs --no-color --tail 40 >&2
        dc_remote down -v --remove-orphans -t 10 >/dev/null 2>&1 \
            || log "WARNING: remote down -v failed"
    fi
    if [[ $COMPOSE_UP == 1 ]]; then
        log "down -v"
        dc down -v --remove-orphans -t 10 >/dev/null 2>&1 || log "WARNING: down -v failed"
        local left
        left=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")
        if [[ -n $left ]]; then
            log "WARNING: containers left: $left"
            echo "$left" | xargs docker rm -f >/dev/null
        fi
    fi
    if [[ -n $COPIED_WHEEL && ${SMOKE_KEEP_WHEEL:-0} != 1 ]]; then rm -f "$COPIED_WHEEL"; fi
    if [[ $STARTED_DOCKERD == 1 && -f $DOCKERD_PIDFILE ]]; then
        local pid
        pid=$(cat "$DOCKERD_PIDFILE")
        log "stopping dockerd (pid $pid)"
        kill "$pid" 2>/dev/null
        for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then
            log "WARNING: dockerd $pid still running after 30 s; sending SIGKILL"
            kill -9 "$pid" 2>/dev/null
        fi
    fi
    rm -rf "$WORK"
    print_timings >&2
    if [[ $rc == 0 ]]; then log "PASSED"; else log "FAILED (exit $rc)"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- stages ------------------------------------------------------------------------------------

install_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v docker-compose >/dev/null || missing+=(docker-compose)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    if [[ ${#missing[@]} == 0 ]]; then log "docker.io, docker-compose, debootstrap present"; return; fi
    [[ $(id -u) == 0 ]] || fail "need root to apt-get install ${missing[*]}"
    log "apt-get install ${missing[*]}"
    apt-get update -qq >"$WORK/apt.log" 2>&1 || { tail "$WORK/apt.log" >&2; fail "apt-get update"; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >>"$WORK/apt.log" 2>&1 || { tail "$WORK/apt.log" >&2; fail "apt-get install"; }
}

start_dockerd() {
    if docker info >/dev/null 2>&1; then
        log "a Docker engine already answers: using it, and leaving it running"
        return
    fi
    [[ $(id -u) == 0 ]] || fail "no Docker engine answers and only root can start dockerd"
    if [[ -f $DOCKERD_PIDFILE ]] && kill -0 "$(cat "$DOCKERD_PIDFILE")" 2>/dev/null; then
        fail "dockerd $(cat "$DOCKERD_PIDFILE") from $DOCKERD_PIDFILE runs but does not answer"
    fi
    dockerd --host unix:///var/run/docker.sock --pidfile "$DOCKERD_PIDFILE" \
        >"$DOCKERD_LOG" 2>&1 &
    local launcher=$!
    STARTED_DOCKERD=1
    for _ in $(seq 120); do
        if docker info >/dev/null 2>&1; then
            log "dockerd started (pid $(cat "$DOCKERD_PIDFILE"))"
            return
        fi
        kill -0 "$launcher" 2>/dev/null || { tail -20 "$DOCKERD_LOG" >&2; fail "dockerd exited"; }
        sleep 0.5
    done
    tail -20 "$DOCKERD_LOG" >&2
    fail "dockerd did not answer within 60 s"
}

find_torch_wheel() {
    if [[ -n ${TORCH_WHEEL:-} ]]; then echo "$TORCH_WHEEL"; return; fi
    local dirs=() dir
    local pip=(python3 -m pip)
    [[ -x $ROOT/.venv/bin/pip ]] && pip=("$ROOT/.venv/bin/pip")
    while read -r dir; do dirs+=("$dir"); done < <(
        "${pip[@]}" config list 2>/dev/null | sed -n "s/^.*find-links='\(.*\)'$/\1/p" | tr ' ' '\n'
    )
    dirs+=(/opt/wheels)
    for dir in "${dirs[@]}"; do
        dir=${dir#file://}
        local found=("$dir"/torch-2.13.0+cpu-cp311-*.whl) # the pattern itself when none match
        [[ -e ${found[0]} ]] || continue
        echo "${found[0]}"
        return
    done
}

build_project_image() {
    local wheel
    wheel=$(find_torch_wheel)
    if [[ -n $wheel ]]; then
        local dest
        dest="$ROOT/wheels/$(basename "$wheel")"
        if [[ ! -f $dest ]]; then
            ln "$wheel" "$dest" 2>/dev/null || cp "$wheel" "$dest"
            COPIED_WHEEL=$dest
        fi
        log "local PyTorch wheel: $wheel"
    else
        log "no local torch-2.13.0+cpu wheel: the build takes torch from the PyTorch CPU index"
    fi
    dc build api 2>&1 | grep -vE '^(DEPRECATED|  +Install the buildx|  +https://docs.docker)' \
        >"$WORK/build.log" || true
    grep -qE '^Successfully tagged gan-service:cpu' "$WORK/build.log" \
        || { tail -30 "$WORK/build.log" >&2; fail "docker-compose build api failed"; }
    local cached total
    cached=$(grep -c 'Using cache' "$WORK/build.log" || true)
    total=$(grep -cE '^Step [0-9]+/' "$WORK/build.log" || true)
    log "built gan-service:cpu ($cached of $total steps from the layer cache)"
}

compose_up() {
    COMPOSE_UP=1
    dc down -v --remove-orphans -t 5 >/dev/null 2>&1 || true # leftovers of an aborted run
    dc up -d --no-build --scale worker=2 >&2 || fail "docker-compose up failed"
}

remote_worker() {
    local host_ip
    host_ip=$(hostname -I | awk '{print $1}')
    [[ -n $host_ip ]] || fail "no host address for the remote worker to reach Redis on"
    sed "s#^GAN_REDIS_URL=.*##" "$WORK/smoke.env" >"$WORK/remote.env"
    echo "GAN_REDIS_URL=redis://$host_ip:$REDIS_PORT/0" >>"$WORK/remote.env"
    dc stop worker >&2 || fail "docker-compose stop worker failed"
    REMOTE_UP=1
    dc_remote up -d --no-build --no-deps worker >&2 || fail "remote worker: up failed"
    JOB_R=$("${CLIENT[@]}" "$URL" "$KEY" submit \
        '{"dataset": "ring-8", "name": "smoke-remote", "steps": 200, "checkpoint_every": 100}')
    "${CLIENT[@]}" "$URL" "$KEY" wait "$JOB_R" succeeded --timeout 300
    "${CLIENT[@]}" "$URL" "$KEY" sample "$JOB_R" --timeout 60
    [[ -d $WORK/shared/models/smoke-remote ]] || fail "the remote worker's model is not in the shared folder"
    log "a worker of another project, through the published Redis, trained smoke-remote"
    dc_remote down -v --remove-orphans -t 10 >&2 || fail "remote down -v failed"
    REMOTE_UP=0
}

compose_down() {
    dc down -v --remove-orphans -t 10 >&2 || fail "docker-compose down -v failed"
    COMPOSE_UP=0
    local left
    left=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")
    [[ -z $left ]] || fail "containers left after down: $left"
    # Whole outputs are captured before matching: under pipefail, `cmd | grep -q` or
    # `cmd | head -1` can end in SIGPIPE (exit 141) whenever cmd writes after the reader quit.
    local volumes
    volumes=$(docker volume ls -q)
    [[ $'\n'$volumes != *$'\n'"${PROJECT}_"* ]] || fail "volumes left after down -v"
}

wait_healthy() {
    local deadline=$((SECONDS + 240)) state
    while ((SECONDS < deadline)); do
        state=$(docker inspect --format '{{.State.Health.Status}}' \
            "$(dc ps -q api)" 2>/dev/null || echo none)
        [[ $state == healthy ]] && break
        for id in $(dc ps -q); do
            [[ $(docker inspect --format '{{.RestartCount}}' "$id") == 0 ]] \
                || fail "$(docker inspect --format '{{.Name}}' "$id") exited and was restarted"
        done
        sleep 2
    done
    [[ $state == healthy ]] || fail "api not healthy after 240 s (last: $state)"
    local workers
    workers=$(dc ps -q worker | wc -l)
    [[ $workers == 2 ]] || fail "expected 2 worker containers, found $workers"
    for id in $(dc ps -q worker) $(dc ps -q redis); do
        [[ $(docker inspect --format '{{.State.Running}}' "$id") == true ]] \
            || fail "container $id is not running"
    done
    log "api healthy; redis and 2 workers running"
    "${CLIENT[@]}" "$URL" "$KEY" ready --timeout 30
}

train_and_sample() {
    "${CLIENT[@]}" "$URL" "$KEY" auth
    JOB_A=$("${CLIENT[@]}" "$URL" "$KEY" submit \
        '{"dataset": "ring-8", "name": "smoke-ring", "steps": 300, "checkpoint_every": 100}')
    "${CLIENT[@]}" "$URL" "$KEY" wait "$JOB_A" succeeded --timeout 300
    RATE=$("${CLIENT[@]}" "$URL" "$KEY" rate "$JOB_A")
    log "one job trained at about $RATE steps/s"
    # The worker published into the shared volume; the API finds it there.
    "${CLIENT[@]}" "$URL" "$KEY" sample "$JOB_A" --timeout 60
}

bring_your_own_data() {
    # The API writes the upload into the data volume; a worker trains on it from there.
    "${CLIENT[@]}" "$URL" "$KEY" byod --timeout 300
}

two_jobs_at_once() {
    # Long enough to still be running when a worker is killed, short enough for CI.
    STEPS=$((RATE * 40))
    ((STEPS < 1500)) && STEPS=1500
    ((STEPS > 40000)) && STEPS=40000
    local every=$((STEPS / 10))
    JOB_B=$("${CLIENT[@]}" "$URL" "$KEY" submit \
        "{\"dataset\": \"ring-8\", \"name\": \"smoke-b\", \"steps\": $STEPS, \"checkpoint_every\": $every}")
    JOB_C=$("${CLIENT[@]}" "$URL" "$KEY" submit \
        "{\"dataset\": \"ring-8\", \"name\": \"smoke-c\", \"steps\": $STEPS, \"checkpoint_every\": $every}")
    "${CLIENT[@]}" "$URL" "$KEY" together "$JOB_B" "$JOB_C" --timeout 180
}

kill_worker_mid_job() {
    # Both workers are busy (one job each), so either one is mid-job: kill the first.
    "${CLIENT[@]}" "$URL" "$KEY" wait "$JOB_B" running --min-step $((STEPS / 10 + 1)) \
        --timeout 300
    local victim
    victim=$(dc ps -q worker)
    victim=${victim%%$'\n'*}
    log "docker kill $(docker inspect --format '{{.Name}}' "$victim")"
    docker kill "$victim" >/dev/null
    sleep 3
    "${CLIENT[@]}" "$URL" "$KEY" show "$JOB_B"
    "${CLIENT[@]}" "$URL" "$KEY" show "$JOB_C"
    dc start worker >&2 || fail "docker-compose start worker failed"
    for job in "$JOB_B" "$JOB_C"; do
        "${CLIENT[@]}" "$URL" "$KEY" wait "$job" succeeded --timeout 600
    done
    local crashes
    crashes=$(python3 - "$URL" "$JOB_B" "$JOB_C" <<'EOF'
import json, sys, urllib.request
url = sys.argv[1]
print(sum(json.load(urllib.request.urlopen(f"{url}/train-jobs/{j}"))["crashes"] for j in sys.argv[2:]))
EOF
    )
    [[ $crashes -ge 1 ]] || fail "a worker was killed mid-job, yet no job records a crash"
    log "the killed worker's job was re-queued and finished ($crashes crash recorded)"
}

# ---- run ---------------------------------------------------------------------------------------

PORT=${SMOKE_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
URL="http://127.0.0.1:$PORT"
REDIS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
KEY="smoke-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
# Secrets in files, readable by the containers' users; the API key only there, not in .env.
mkdir -p "$WORK/secrets" "$WORK/shared/models" "$WORK/shared/data"
echo "$KEY" >"$WORK/secrets/api_keys"
python3 -c 'import secrets; print(secrets.token_urlsafe(24) + ":/@ x")' >"$WORK/secrets/redis_password"
chmod 444 "$WORK/secrets/"*
chmod 777 "$WORK/shared/models" "$WORK/shared/data" # the app's uid writes there
cat >"$WORK/smoke.env" <<EOF
SECRETS_DIR=$WORK/secrets
SHARED_DIR=$WORK/shared
REDIS_PUBLISH=$REDIS_PORT
API_PORT=127.0.0.1:$PORT
TORCH_VARIANT=cpu
GAN_DEVICE=cpu
GAN_JOB_LEASE_S=6
GAN_JOB_REAPER_INTERVAL_S=2
EOF

stage "install packages (if missing)" install_packages
stage "start dockerd (unless one answers)" start_dockerd
stage "base images (debootstrap, python, redis)" "$ROOT/scripts/build_base_images.sh"
stage "project image (CPU, local torch wheel)" build_project_image
stage "compose up (redis, api, 2 workers)" compose_up
stage "wait for healthy" wait_healthy
stage "train ring-8 (300 steps), then sample" train_and_sample
stage "upload a dataset, train on it, watch, sample a class" bring_your_own_data
stage "two jobs running at once on 2 workers" two_jobs_at_once
stage "kill a worker mid-job; start; jobs finish" kill_worker_mid_job
stage "a worker from another project via published Redis" remote_worker
stage "down -v" compose_down
