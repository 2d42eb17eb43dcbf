# Image for the compliance stream processors (classifier, checker, transaction screener,
# audit sink) and the CLI.
# Used by docker-compose.yml; build with:  docker build -t compliance-stream .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Tesseract for OCR of scanned documents in the classifier.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Copy only what the package build needs (no .venv, .services or tests in the image).
COPY pyproject.toml README.md ./
COPY src ./src
COPY processors ./processors
COPY schemas ./schemas
RUN pip install .

# Runtime data read from disk (rule files, watchlists, sample documents).
COPY rules ./rules
COPY samples ./samples

# The installed package no longer sits next to rules/, so point at them explicitly.
ENV COMPLIANCE_RULES_DIR=/app/rules \
    COMPLIANCE_SANCTIONS_DIR=/app/rules/watchlists \
    COMPLIANCE_TRANSACTIONS_RULES_DIR=/app/rules/transactions \
    COMPLIANCE_TRANSACTIONS_STATE_DIR=/var/lib/compliance/transaction-screener \
    COMPLIANCE_DOCUMENT_ROOTS='["/app"]'

RUN useradd --system --uid 10001 --home-dir /app compliance \
    && mkdir -p /var/lib/compliance \
    && chown compliance /var/lib/compliance
USER compliance

ENTRYPOINT ["compliance"]
CMD ["--help"]
