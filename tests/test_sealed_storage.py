"""个人信息加密存储 (issue 14 item 4): after a petition and a dispute case ran, no ID number, phone or
address (nor a dispute's parties) is in the SQLite file or its WAL, nor in any PostgreSQL row; the
service still shows, searches and masks the data as before."""

from __future__ import annotations

import hashlib
import io
import json
from urllib.parse import urlencode

import pytest
from conftest import PETITION, ApiClient, make_app
from sealed_support import (
    PARTIES,
    SECRETS,
    checkpoint,
    clear_in_files,
    clear_in_rows,
    run_dispute,
    run_petition,
    sqlite_files,
)
from sqlalchemy import create_engine, text

from service import sealed

WATCHED = {**SECRETS, "当事人": PARTIES}


def test_no_clear_personal_data_in_the_sqlite_file_or_its_wal(sqlite_api: ApiClient, sqlite_url: str) -> None:
    run_petition(sqlite_api)
    run_dispute(sqlite_api)
    assert len(sqlite_files(sqlite_url)) == 2  # the WAL holds the recent pages
    assert clear_in_files(sqlite_files(sqlite_url), WATCHED) == {}
    assert clear_in_rows(sqlite_url, WATCHED) == {}
    checkpoint(sqlite_url)
    assert clear_in_files(sqlite_files(sqlite_url), WATCHED) == {}


@pytest.mark.postgresql
def test_no_postgresql_row_holds_personal_data_in_clear(pg_url: str) -> None:
    app = make_app(pg_url)
    try:
        api = ApiClient(app)
        run_petition(api)
        run_dispute(api)
        assert clear_in_rows(pg_url, WATCHED) == {}
        assert api.instance("xfk1", 1)["data"]["petitioner_id_number"] == SECRETS["身份证号"]
    finally:
        app.extensions["govflow"].db.dispose()


def test_engine_state_and_history_are_stored_sealed_with_the_current_key(sqlite_api: ApiClient,
                                                                          sqlite_url: str) -> None:
    iid = run_petition(sqlite_api)
    engine = create_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            state = conn.execute(text("SELECT state FROM instance_states WHERE instance_id = :i"), {"i": iid}).scalar()
            rows = conn.execute(text("SELECT data_after FROM history WHERE instance_id = :i AND data_after "
                                     "IS NOT NULL"), {"i": iid}).scalars().all()
    finally:
        engine.dispose()
    assert state.startswith("gf1:ktest1:") and rows and all(r.startswith("gf1:ktest1:") for r in rows)
    assert json.loads(sealed.unseal(rows[0]))["petitioner_id_number"] == SECRETS["身份证号"]


def test_the_case_page_shows_the_data_in_clear_to_the_chain_and_masked_to_others(sqlite_api: ApiClient) -> None:
    iid = run_petition(sqlite_api)
    data = sqlite_api.instance("xfk1", iid)["data"]
    assert (data["petitioner_id_number"], data["petitioner_phone"], data["petitioner_address"]) == (
        PETITION["petitioner_id_number"], PETITION["petitioner_phone"], PETITION["petitioner_address"])
    masked = sqlite_api.instance("admin", iid)["data"]
    assert (masked["petitioner_id_number"], masked["petitioner_phone"], masked["petitioner_address"]) == (
        "5301**********1234", "138****5678", "云南省临沧市****")
    history = sqlite_api.instance("xfk1", iid)["history"]
    assert history[0]["data"]["petitioner_phone"] == PETITION["petitioner_phone"]


def test_search_by_id_number_still_finds_the_case(sqlite_api: ApiClient) -> None:
    iid = run_petition(sqlite_api)
    query = urlencode({"petitioner_id_number": PETITION["petitioner_id_number"]})
    r = sqlite_api.get("xfk1", f"/api/v1/search?{query}")
    assert r.status_code == 200, r.get_json()
    assert [row["id"] for row in r.get_json()["rows"]] == [iid]


def test_a_second_registration_with_the_same_id_number_is_still_found_as_a_duplicate(sqlite_api: ApiClient,
                                                                                     sqlite_url: str) -> None:
    api = sqlite_api
    first = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION}).get_json()
    second = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION}).get_json()
    assert api.instance("xfk1", second["id"])["data"]["duplicate_of"] == first["business_key"]
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        hashes = conn.execute(text("SELECT match_hash FROM instances ORDER BY id")).scalars().all()
    engine.dispose()
    # keyed (HMAC under SECRET_KEY): not the plain SHA-256 of the number anyone could recompute
    plain = hashlib.sha256(f"petition:{PETITION['petitioner_id_number']}".encode()).hexdigest()
    assert hashes[0] == hashes[1] != plain


def test_an_attachment_is_stored_sealed_and_downloads_as_uploaded(sqlite_api: ApiClient, sqlite_url: str) -> None:
    r = sqlite_api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    iid = r.get_json()["id"]
    content = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Body (ID 530102199001071234) >>\nendobj\ntrailer\n<<>>\n%%EOF\n"
    r = sqlite_api.client.post(f"/api/v1/instances/{iid}/attachments", headers=sqlite_api.headers("xfk1"),
                               data={"kind": "来信扫描件", "file": (io.BytesIO(content), "来信.pdf")},
                               content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    item = r.get_json()[0]
    assert sqlite_api.get("xfk1", f"/api/v1/attachments/{item['id']}").data == content
    checkpoint(sqlite_url)
    assert clear_in_files(sqlite_files(sqlite_url), {"id": SECRETS["身份证号"]}) == {}
