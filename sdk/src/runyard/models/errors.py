"""The error body every 4xx response carries."""

from pydantic import BaseModel


class ErrorBody(BaseModel):
    error: str
    detail: str
