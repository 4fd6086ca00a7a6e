"""Early-warning alerts and alert policies over HTTP (`GET /v1/alerts`, `PUT /v1/alert-policy`)."""
