"""Routing a question to a cluster, and selecting what the model sees from it.

- ``route(project, question)`` → Routing: the covering cluster (or not covered), scores best first;
- ``build_context(project, cluster, question, budget=…, history=…, exclude_pairs=…)`` → Context;
- ``search(cluster, query, k=5)`` → pairs and doc sections that match.
"""

from vedder.context.route import Routing, route
from vedder.context.search import Hit, search
from vedder.context.select import Context, build_context, estimate_tokens

__all__ = ["Context", "Hit", "Routing", "build_context", "estimate_tokens", "route", "search"]
