from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.accounts.auth import AnyUser, SecretariatUser
from app.core.http import SessionDep
from app.countries import service
from app.countries.schemas import (
    CountryFilter,
    CountryHistoryEntry,
    CountryRead,
    CountryStatusUpdate,
    RegionRead,
)

router = APIRouter(prefix="/api", tags=["countries"])
CountryCode = Annotated[
    str, Path(pattern="^[A-Za-z]{3}$", description="ISO 3166-1 alpha-3, e.g. KEN")
]


@router.get("/regions", response_model=list[RegionRead])
def list_regions(session: SessionDep, principal: AnyUser) -> list[RegionRead]:
    return service.list_regions(session, principal)


@router.get("/countries", response_model=list[CountryRead])
def list_countries(
    session: SessionDep, principal: AnyUser, filters: Annotated[CountryFilter, Query()]
) -> list[CountryRead]:
    return [CountryRead.from_country(c) for c in service.list_countries(session, filters)]


@router.get("/countries/{iso3}", response_model=CountryRead)
def get_country(session: SessionDep, principal: AnyUser, iso3: CountryCode) -> CountryRead:
    return CountryRead.from_country(service.get_country(session, iso3))


@router.patch("/countries/{iso3}", response_model=CountryRead)
def update_country_status(
    session: SessionDep, principal: SecretariatUser, iso3: CountryCode, update: CountryStatusUpdate
) -> CountryRead:
    return CountryRead.from_country(service.update_country_status(session, principal, iso3, update))


@router.get("/countries/{iso3}/history", response_model=list[CountryHistoryEntry])
def country_history(
    session: SessionDep, principal: AnyUser, iso3: CountryCode
) -> list[CountryHistoryEntry]:
    return [
        CountryHistoryEntry.model_validate(entry)
        for entry in service.country_history(session, iso3)
    ]
