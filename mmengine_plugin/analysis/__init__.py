"""Counting and measuring tools for models built from configs (FLOPs, speed, memory)."""
