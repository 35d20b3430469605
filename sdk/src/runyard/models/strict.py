"""The base of every wire model the server reads."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base for wire models: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")
