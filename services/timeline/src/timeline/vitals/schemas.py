"""HTTP models of vitals. The ranges refuse what cannot be a living person's reading (a typo: 1,320 for 132)
while admitting what a sick one may show; they are sanity checks, not clinical alert thresholds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from yui_common.people import PersonRef

MEASURES = ("systolic", "diastolic", "pulse", "spo2", "temperature", "respiration", "weight", "glucose")

Systolic = Annotated[int, Field(ge=60, le=260, description="Systolic blood pressure, mmHg")]
Diastolic = Annotated[int, Field(ge=30, le=160, description="Diastolic blood pressure, mmHg")]
Pulse = Annotated[int, Field(ge=20, le=250, description="Pulse, beats a minute")]
Spo2 = Annotated[int, Field(ge=50, le=100, description="SpO2, %")]
Temperature = Annotated[float, Field(ge=32.0, le=43.0, description="Body temperature, °C (one decimal)")]
Respiration = Annotated[int, Field(ge=4, le=60, description="Respiratory rate, breaths a minute")]
Weight = Annotated[float, Field(ge=2.0, le=300.0, description="Body weight, kg (one decimal)")]
Glucose = Annotated[int, Field(ge=20, le=800, description="Blood glucose, mg/dL")]


class VitalsValues(BaseModel):
    systolic: Systolic | None = None
    diastolic: Diastolic | None = None
    pulse: Pulse | None = None
    spo2: Spo2 | None = None
    temperature: Temperature | None = None
    respiration: Respiration | None = None
    weight: Weight | None = None
    glucose: Glucose | None = None


class VitalsCreate(VitalsValues):
    """One moment's measures (at least one: checked once the caller may write, so an outsider learns nothing
    from the answer), with an optional note; ``measured_at`` defaults to now."""

    model_config = ConfigDict(extra="forbid")
    measured_at: AwareDatetime | None = Field(
        default=None, description="When measured (with its offset); not in the future, at most 30 days ago"
    )
    note: str = Field(default="", max_length=2000, description="Said with the measures in the post")

    @model_validator(mode="after")
    def _consistent(self) -> VitalsCreate:
        if (self.systolic is None) != (self.diastolic is None):
            raise ValueError("Blood pressure needs both the systolic and the diastolic value.")
        if self.systolic is not None and self.diastolic is not None and self.diastolic >= self.systolic:
            raise ValueError("The diastolic pressure must be below the systolic one.")
        if self.temperature is not None:
            self.temperature = round(self.temperature, 1)
        if self.weight is not None:
            self.weight = round(self.weight, 1)
        return self


class VitalsRead(VitalsValues):
    post_id: UUID
    subject_id: UUID
    measured_at: datetime
    recorded_at: datetime
    author: PersonRef


class VitalsSeries(BaseModel):
    """A subject's entries since ``since`` (``days`` back from now), oldest first."""

    subject_id: UUID
    days: int
    since: datetime
    items: list[VitalsRead]
