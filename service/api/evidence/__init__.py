"""/v1/evidence: suppliers' trade records (hashes only), data providers' attestations, and the
verification of a document against its registered hash."""
