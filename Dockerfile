# The operator's image. Build from the repository root:
#   docker build -t registry.example.com/astra-token-operator:0.1.0 .
# and point the chart at it (image.repository, image.tag).
#
# BASE_IMAGE is any image with Python 3.11+ (its venv module) and groupadd/useradd.
# The default is the one users pull; the test suite builds on a Debian base made from
# Debian's packages instead (mmdebstrap, Debian's python3), as no registry is reachable
# there (tests/testplatform/imagebuild.py).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/astra-token-operator/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
# A virtualenv of its own: a distribution's Python refuses pip installs into itself (PEP 668).
RUN python3 -m venv /opt/astra-token-operator \
    && /opt/astra-token-operator/bin/pip install . \
    && rm -rf /src

# A fixed numeric user, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
# (Not named "operator": Debian's base-passwd, under python:3.11-slim too, has that group.)
RUN groupadd --gid 10001 astra-token-operator \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin astra-token-operator
USER 10001:10001
WORKDIR /tmp

# Liveness (--liveness=http://0.0.0.0:8080/healthz) and the admission webhook.
EXPOSE 8080 9443
ENTRYPOINT ["astra-token-operator", "run"]
