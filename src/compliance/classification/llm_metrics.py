"""Prometheus metrics of the Claude classifier: calls, tokens, cost per document, cache."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

calls = Counter(
    "compliance_llm_calls_total",
    "Messages API calls (after the SDK's own retries), by outcome",
    ["outcome"],  # ok, invalid_reply, unavailable, rejected, circuit_open
)
tokens = Counter("compliance_llm_tokens_total", "Tokens sent and received", ["kind"])
cost_usd = Counter("compliance_llm_cost_usd_total", "What Claude cost, in US dollars", [])
document_cost_usd = Histogram(
    "compliance_llm_document_cost_usd",
    "What classifying one document cost, in US dollars (0 when read from the cache)",
    [],
    buckets=(0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
)
cache = Counter("compliance_llm_cache_total", "Result cache look-ups", ["result"])  # hit, miss
