"""The five CICC regions (fixed; the first migration creates their rows)."""

from enum import StrEnum


class RegionSlug(StrEnum):
    africa = "africa"
    americas = "americas"
    asia_pacific = "asia-pacific"
    europe = "europe"
    mena = "mena"


# How the treaty-data file names each region.
REGION_BY_DATA_NAME: dict[str, RegionSlug] = {
    "Africa": RegionSlug.africa,
    "Americas": RegionSlug.americas,
    "Asia-Pacific": RegionSlug.asia_pacific,
    "Europe": RegionSlug.europe,
    "MENA": RegionSlug.mena,
}
