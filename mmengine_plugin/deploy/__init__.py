"""ONNX export and ONNX Runtime inference (tools/deployment/). Not imported by ``import mmengine_plugin``."""
