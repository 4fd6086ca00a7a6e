"""Risk views of a financier, the auditor and the operator: exposure, concentration, maturity
ladder, overdue notes."""
