"""The agent's tools: a registry of typed tools the model may call (see registry.py)."""
