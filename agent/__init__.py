"""The agent's own logic (personas, prompts), free of I/O."""
