# Image of the compliance stream processors and the `compliance` command.
#   docker build -t compliance-stream .
# Stage 1 builds wheels of the project and its dependencies; stage 2 installs them into a
# slim runtime with Tesseract (OCR of scanned documents), as a user without privileges.
# No secret is read or kept at build time: every secret comes from the environment at run time.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# PyICU (romanising names in other scripts for sanctions screening) builds against the
# system's ICU; it has no binary wheel.
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ pkg-config libicu-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY processors ./processors
COPY schemas ./schemas
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Tesseract's English model for OCR of scanned documents (the tesserocr wheel carries the
# library; the MRZ model ships in the package); ICU for PyICU, built in the first stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr-eng \
        "$(apt-cache search --names-only '^libicu[0-9]+$' | cut -d' ' -f1 | head -n1)" \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels compliance-stream && rm -rf /wheels

WORKDIR /app
# Runtime data read from disk: rules and watchlists, the configuration files (routing,
# notifier routes, scheduled jobs, SAR parties), samples.
COPY rules ./rules
COPY config ./config
COPY samples ./samples

# The installed package no longer sits next to these folders, so point at them explicitly.
# Metrics and probes (/metrics, /healthz, /readyz) on port 9400 of the container.
ENV COMPLIANCE_RULES_DIR=/app/rules \
    COMPLIANCE_SANCTIONS_DIR=/app/rules/watchlists \
    COMPLIANCE_TRANSACTIONS_RULES_DIR=/app/rules/transactions \
    COMPLIANCE_TRANSACTIONS_STATE_DIR=/var/lib/compliance/transaction-screener \
    COMPLIANCE_ROUTING_FILE=/app/config/exception_routing.yaml \
    COMPLIANCE_SAR_CONFIG_FILE=/app/config/sar.yaml \
    COMPLIANCE_NOTIFIER_ROUTES_FILE=/app/config/notifier.yaml \
    COMPLIANCE_SCHEDULER_FILE=/app/config/scheduler.yaml \
    COMPLIANCE_DOCUMENT_ROOTS='["/app"]' \
    COMPLIANCE_METRICS_HOST=0.0.0.0 \
    COMPLIANCE_METRICS_PORT=9400
EXPOSE 9400

RUN useradd --system --uid 10001 --no-create-home --home-dir /app compliance \
    && mkdir -p /var/lib/compliance \
    && chown 10001 /var/lib/compliance
USER 10001

ENTRYPOINT ["compliance"]
CMD ["--help"]
