"""Axon: JSON agent definitions served as running pydantic-ai agents."""
