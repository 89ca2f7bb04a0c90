"""nnlang: a declarative language for neural networks, compiled to Flax + Optax.

Importing this package does not import JAX; only building and training do.
"""

__version__ = "0.1.0"
