"""Generators of the embedded default data sets (the synthesize stage writes them as files)."""
