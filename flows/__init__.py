"""Prefect flows and tasks: thin wrappers over the library."""

from flows.detect import detect_flow
from flows.train import train_flow

__all__ = ["detect_flow", "train_flow"]
