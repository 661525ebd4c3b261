"""Routing a question to a cluster, and selecting what the model sees from it.

- ``route(project, question)`` → Routing: the covering cluster (or not covered), scores best first;
- ``remember(project, routing)`` / ``route_with_memory(project, question)`` → Routing with a tie settled by
  earlier answers to the same question in the conversation log (route memory);
- ``build_context(project, cluster, question, budget=…, history=…, exclude_pairs=…)`` → Context;
- ``search(cluster, query, k=5)`` → pairs and doc sections that match.

Routing and search need no sqlglot; selecting does, so it loads on first use (a question no cluster covers
is answered without importing sqlglot at all).
"""

from vedder.context.memory import Remembered, remember, route_with_memory
from vedder.context.route import Routing, route
from vedder.context.search import Hit, search

__all__ = ["Context", "Hit", "Remembered", "Routing", "build_context", "estimate_tokens", "remember", "route",
           "route_with_memory", "search"]

_LAZY = {"Context": "select", "build_context": "select", "estimate_tokens": "select"}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vedder.context' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"vedder.context.{module}"), name)
