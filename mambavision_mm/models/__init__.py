"""Models that configs build: the MambaVision backbone."""
from .backbones import MambaVision

__all__ = ['MambaVision']
