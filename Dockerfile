# The operator's image. Build from the repository root:
#   docker build -t registry.example.com/astra-token-operator:0.1.0 .
# and point the chart at it (image.repository, image.tag).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN pip install . && rm -rf /src

# A fixed numeric user, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
RUN groupadd --gid 10001 operator && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin operator
USER 10001:10001
WORKDIR /tmp

# Liveness (--liveness=http://0.0.0.0:8080/healthz) and the admission webhook.
EXPOSE 8080 9443
ENTRYPOINT ["astra-token-operator", "run"]
