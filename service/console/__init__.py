"""The web console: server-rendered pages (Jinja2 templates, htmx) served by the gateway under
`/console`, organised by area like the API (`<area>/routes.py` + `templates/<area>/`); every page
reads and writes through the API's domain services (see docs/console.md)."""
