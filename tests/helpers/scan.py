"""Running the selective scan with gradients, the same way in every scan test."""
import torch

from mambavision_backbone import selective_scan
from mambavision_backbone.scan import scan_with_gradients


def run_scan(inputs, backend, softplus=True, grads=False):
    """(y, None), or with ``grads`` (y, the gradient of every input) for a fixed random gradient of y
    (:func:`scan_grad_output`)."""
    if not grads:
        return selective_scan(**inputs, delta_softplus=softplus, backend=backend).detach(), None
    return scan_with_gradients(inputs, scan_grad_output(inputs), backend=backend, delta_softplus=softplus)


def scan_grad_output(inputs):
    """The gradient of y that :func:`run_scan` back-propagates: random, fixed, in u's dtype."""
    u = inputs['u']
    return torch.randn(u.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(u.dtype)
