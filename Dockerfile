# One image for the listeners: the code location (dagster code-server), and the
# webserver and daemon of a Dagster instance (docker compose, Kubernetes).
#   docker build -t ghcr.io/thetreasuremap/gwtm_cron:dev .

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when pyproject.toml or the lock changes. Every package is
# pinned by deploy/constraints.txt (python deploy/lock.py), so a new upstream release cannot change a build.
# (README.md is only package metadata: an empty stand-in here, so editing the README does not reinstall everything.)
COPY pyproject.toml deploy/constraints.txt ./
RUN mkdir -p gwtm_assets \
    && touch README.md gwtm_assets/__init__.py \
    && pip install -c constraints.txt '.[deploy]' \
    && pip uninstall -y gwtm-cron
COPY README.md ./
COPY gwtm_assets gwtm_assets
RUN pip install --no-deps .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 gwtm \
    && mkdir -p /opt/dagster/home /opt/dagster/app /data \
    && chown -R gwtm /opt/dagster /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home \
    LOCAL_STORAGE_DIR=/data \
    LOG_FORMAT=json
WORKDIR /opt/dagster/app
COPY --chown=gwtm workspace.yaml deploy/workspace.compose.yaml ./
COPY --chown=gwtm deploy/dagster.production.yaml /opt/dagster/home/dagster.yaml
USER gwtm
# The quick-look canvas drawn once into the image's user cache: no process of the image imports ligo.skymap's axes.
RUN python -c "from gwtm_assets.science.quicklook import warm_up; warm_up()"
EXPOSE 4000 4010 3000
# The code location answers gRPC health checks; the webserver and daemon override this in compose.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD dagster api grpc-health-check -p 4000 || exit 1
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "gwtm_assets.definitions", "--location-name", "gwtm"]
