"""vedder: a data agent that answers questions from expert-curated clusters."""

__version__ = "0.1.0"
