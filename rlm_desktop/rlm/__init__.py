"""The RLM method: the root loop, budgets, events, citations."""
