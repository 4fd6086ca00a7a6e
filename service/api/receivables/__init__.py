"""Evidence-backed receivables: origination, conversion, a financier's policy, quotes and
auto-approval, and the suppliers' credit score."""
