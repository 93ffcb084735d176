"""jelu: ELU, SELU and CELU for JAX, accurate to 1 ULP (correctly rounded in
16-bit for the default alphas), with one residual in reverse mode."""

from jelu.activations import celu, elu, elu_plus_one, selu
from jelu.dropout import alpha_dropout, feature_alpha_dropout

__version__ = "0.2.0"
__all__ = ["elu", "selu", "celu", "elu_plus_one", "alpha_dropout", "feature_alpha_dropout", "__version__"]
