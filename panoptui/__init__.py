"""panoptui: explore large image corpora with deep-learning embeddings, from a terminal."""

__version__ = "0.1.0"
