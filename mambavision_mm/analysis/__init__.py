"""Counting and measuring tools for models built from configs (FLOPs, speed, memory).
Not imported by ``import mambavision_mm``."""
