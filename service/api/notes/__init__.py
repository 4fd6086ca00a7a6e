"""Notes: issue, accept, reject, revoke, split, transfer, freeze; reads and provenance trees."""
