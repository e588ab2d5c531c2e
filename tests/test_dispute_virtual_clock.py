"""A client that knows only API.md rehearses the monthly round with the virtual clock: moving the
clock past 08:00 on the 1st starts the month's round (and a new installation does not back-date
the month it was installed in); moving it past the 5th working day's end sends 催报."""

from __future__ import annotations

import pytest
from conftest import ApiClient


def _rounds(api: ApiClient) -> list[str]:
    rows = api.get("zzb1", "/api/v1/instances?process=dispute_screening_monthly").get_json()
    return sorted(r["business_key"] for r in rows)


def test_moving_the_virtual_clock_to_the_first_starts_the_round_and_its_deadline_chases(
        sqlite_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVFLOW_CLOCK", "virtual")
    api = sqlite_api
    # installed on 1 December at 10:00: December's 08:00 moment passed before, so no PC-2026-12
    assert api.post("admin", "/api/v1/admin/clock", json={"advance": "PT0S"}).status_code == 200
    assert _rounds(api) == []
    moved = api.post("admin", "/api/v1/admin/clock", json={"advance": "P30DT22H"})  # 2027-01-01 08:00
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["now"].startswith("2027-01-01T08:00")
    api._tokens.clear()  # tokens expire by the (now moved) clock
    assert _rounds(api) == ["PC-2027-01"]
    [row] = api.get("zzb1", "/api/v1/instances?process=dispute_screening_monthly").get_json()
    assert row["due_at"] == "2027-01-08T23:59:59+08:00"  # the 5th working day after 元旦
    assert api.complete("fgw1", row["id"], "report", {"zero_report": True}).status_code == 200
    api.post("admin", "/api/v1/admin/clock", json={"advance": "P8D"})  # 2027-01-09 08:00
    api._tokens.clear()
    chased = {user: [n["text"] for n in api.get(user, "/api/v1/notices").get_json() if n["kind"] == "chase_report"]
              for user in ("fgw1", "cjw1", "jsw1")}
    assert chased["fgw1"] == []
    assert [len(chased["cjw1"]), len(chased["jsw1"])] == [1, 1]
    assert "2027年1月8日前报送" in chased["jsw1"][0] and "监察和司法委员会尚未报送" in chased["jsw1"][0]
    # a second start of January by hand: 409 duplicate_period
    again = api.post("zzb1", "/api/v1/instances",
                     json={"process": "dispute_screening_monthly", "data": {"period": "2027-01"}})
    assert again.status_code == 409 and again.get_json()["error"] == "duplicate_period"
