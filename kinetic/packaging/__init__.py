"""Packaging: the project root, the project archive and the pickled payload."""
