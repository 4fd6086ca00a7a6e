"""Financing: discounts, settlement, quotes, credit limits and relationships, pricing."""
