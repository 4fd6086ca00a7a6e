"""Webhook delivery: signing secrets, URL checks, the payload, and the dispatcher."""
