"""Operations: liveness, readiness and Prometheus metrics; the dev clock of the embedded chain."""
