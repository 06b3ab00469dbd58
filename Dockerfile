# One image for the API and the Celery worker; the command chooses the role.
#   docker build -t gan-service .                                  # CPU PyTorch
#   docker build --build-arg TORCH_VARIANT=cuda -t gan-service .   # CUDA PyTorch (PyPI build)
# Offline builds: put wheels (torch's first) in wheels/; pip looks there before any index, and a
# torch wheel found there is used instead of the PyTorch index.
ARG PYTHON_IMAGE=python:3.11-slim

# ---- deps: a virtualenv with every dependency, cached until pyproject.toml changes ----
FROM ${PYTHON_IMAGE} AS deps
ARG TORCH_VARIANT=cpu
ARG TORCH_VERSION=2.13.0
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
ARG EXTRAS=monitoring
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /build
COPY wheels/ /wheels/
# PyTorch alone first: the largest layer, and the one that differs between CPU and CUDA.
RUN set -eu; \
    case "$TORCH_VARIANT" in \
      cpu) local_tag="+cpu" ;; \
      cuda) local_tag="" ;; \
      *) echo "TORCH_VARIANT must be cpu or cuda, got '$TORCH_VARIANT'" >&2; exit 2 ;; \
    esac; \
    if [ "$TORCH_VARIANT" = cpu ] && ! ls /wheels/torch-*.whl >/dev/null 2>&1; then \
      export PIP_EXTRA_INDEX_URL="$TORCH_CPU_INDEX"; \
    fi; \
    pip install --no-cache-dir --find-links /wheels "torch==${TORCH_VERSION}${local_tag}"; \
    python -c "import sys, torch; cpu = torch.version.cuda is None; \
sys.exit(0 if cpu == ('$TORCH_VARIANT' == 'cpu') else \
f'asked for $TORCH_VARIANT, got torch {torch.__version__}: remove the other wheel from wheels/')"
COPY pyproject.toml scripts/pyproject_requirements.py ./
RUN python pyproject_requirements.py pyproject.toml --extras "$EXTRAS" --exclude torch \
      > requirements.txt \
 && pip install --no-cache-dir --find-links /wheels -r requirements.txt

# ---- runtime: the virtualenv, the source and a non-root user; no build leftovers ----
FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GAN_MODEL_DIR=/srv/gan/models \
    GAN_DATA_ROOT=/srv/gan/data \
    GAN_VAR_DIR=/srv/gan/var
# The volume mount points exist and belong to the app user, so new named volumes do too.
RUN groupadd -g "$APP_UID" gan \
 && useradd --no-log-init -l -u "$APP_UID" -g gan -m -d /home/gan gan \
 && mkdir -p /srv/gan/models /srv/gan/data /srv/gan/var \
 && chown -R gan:gan /srv/gan
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
COPY scripts/healthcheck.py /usr/local/bin/gan-healthcheck
COPY models/ models/
COPY training/ training/
COPY service/ service/
COPY evaluation/ evaluation/
COPY gan_client/ gan_client/
RUN python -m compileall -q /app
USER ${APP_UID}:${APP_UID}
EXPOSE 8000
VOLUME ["/srv/gan/models", "/srv/gan/data"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/bin/gan-healthcheck"]
# The API; the worker runs `python -m service.jobs.worker` in this same image.
CMD ["python", "-m", "service", "--host", "0.0.0.0", "--port", "8000"]
