"""Per-process caches of the gateway: callers (API key hints), member ids by address, provenance
answers; each bounded, each a hint checked against SQL where it matters."""
