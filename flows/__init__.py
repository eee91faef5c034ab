"""Prefect flows and tasks: thin wrappers over the library."""

from flows.detect import detect_flow, survey_series_flow
from flows.flight import survey_flight_flow
from flows.report import report_flow
from flows.train import train_flow

__all__ = ["detect_flow", "report_flow", "survey_flight_flow", "survey_series_flow",
           "train_flow"]
