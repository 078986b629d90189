"""The data converter: pydantic models in and out of every workflow and activity.

All inputs and results are pydantic models (DESIGN: one input model per workflow and
activity), so fields can be added without breaking running executions.
"""

from __future__ import annotations

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter


def data_converter() -> DataConverter:
    return pydantic_data_converter
