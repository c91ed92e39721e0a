"""ONNX export and ONNX Runtime inference (tools/deployment/). Not imported by ``import mambavision_mm``."""
