"""Domain events: derived from what the indexer applies, kept in SQL with a gap-free sequence, and
delivered to members by the event API, the live stream and webhooks."""
