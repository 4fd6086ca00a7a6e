"""The domain event log over HTTP: a cursor page, a long poll and a Server-Sent Events stream."""
