# syntax=docker/dockerfile:1
# One image for the four services; the command picks which one runs:
#   docker run IMAGE booking | followup | notify | crisis
# Build: docker build -t counseling-suite .

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: resolve and install exactly what uv.lock pins, into /opt/venv -------------------
FROM ${PYTHON_IMAGE} AS build

ENV UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /src

# Third-party dependencies first: this layer is rebuilt only when the lock file or a manifest
# changes. Every workspace member's pyproject.toml must be present for `--frozen` to accept
# the lock, including tools/devstack's, which is not installed.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY services/booking/pyproject.toml services/booking/
COPY services/followup/pyproject.toml services/followup/
COPY services/notify/pyproject.toml services/notify/
COPY services/crisis/pyproject.toml services/crisis/
COPY tools/devstack/pyproject.toml tools/devstack/
COPY tools/opsctl/pyproject.toml tools/opsctl/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace \
        --package booking --package followup --package notify --package crisis \
        --package counseling-opsctl

# Then our own code, installed as ordinary (non-editable) packages: the runtime stage needs
# only /opt/venv, never the source tree. counselctl (tools/opsctl) comes along, so operators
# can run it inside a service's pod, where that service's database and NATS are reachable.
COPY shared/ shared/
COPY services/ services/
COPY tools/opsctl/ tools/opsctl/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable \
        --package booking --package followup --package notify --package crisis \
        --package counseling-opsctl

# ---- runtime: the slim base, the virtualenv, a non-root user --------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="counseling-suite" \
      org.opencontainers.image.description="booking, followup, notify and crisis services"

RUN groupadd --system --gid 10001 counseling \
    && useradd --system --uid 10001 --gid counseling --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin counseling

COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 deploy/docker/healthcheck.py /usr/local/bin/healthcheck

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0

# Numeric, so Kubernetes can verify runAsNonRoot without resolving a name.
USER 10001:10001

EXPOSE 8001 8002 8003 8004

# /readyz: database, NATS and every consumer bound. The script finds the service's port from
# its command line and <SERVICE>_PORT (Docker's HEALTHCHECK cannot read the service's settings).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["healthcheck"]

CMD ["booking"]
