"""jelu: exact, fast, memory-lean exponential linear units for JAX."""

from jelu.activations import celu, elu, selu

__version__ = "0.1.0"
__all__ = ["elu", "selu", "celu", "__version__"]
