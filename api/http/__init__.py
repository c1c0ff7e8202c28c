"""What every request passes: errors, media types, headers, caching, tokens, rate limits, logs,
metrics, the slow-client turns and the fast path."""
