"""Catalog: practitioner profiles and onboarding, categories, services, and discovery."""
