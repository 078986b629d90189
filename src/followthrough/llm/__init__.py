"""Asking the language model: the `llm.complete` activity, shared by the processes that need a
text written (content, the integration sync's memory summary)."""
