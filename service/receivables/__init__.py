"""Evidence-backed receivables: the explainable credit score, a financier's policy and its evaluation."""
