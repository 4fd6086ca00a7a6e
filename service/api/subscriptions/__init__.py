"""/v1/subscriptions: members' webhook subscriptions (`service.webhooks` delivers them)."""
