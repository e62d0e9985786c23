"""The upstream platform simulator as the publisher sees it: signed JSON over a real loopback HTTP server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from etl import config
from etl.errors import UserError
from etl.publish.signing import sign
from simulators.platform import MAX_ITEMS, PlatformFaults, PlatformSimulator

pytestmark = pytest.mark.integration

SECRET = "platform-test-secret-8c2f"
PUBLICITY = "/api/v1/publicity"


@pytest.fixture
def sim(tmp_path: Path):
    with PlatformSimulator("provincial", tmp_path / "provincial.sqlite", secret=SECRET) as simulator:
        yield simulator


@pytest.fixture
def national(tmp_path: Path):
    with PlatformSimulator("national", tmp_path / "national.sqlite", secret=SECRET) as simulator:
        yield simulator


def call(sim: PlatformSimulator, method: str, path: str, document: dict | None = None, *, secret: str = SECRET,
         timestamp: int | None = None, nonce: str | None = None, params: dict | None = None, timeout: float = 5,
         session: requests.Session | None = None) -> requests.Response:
    """One signed request, signed afresh (a new nonce) unless told otherwise."""
    body = b"" if document is None else json.dumps(document, ensure_ascii=False).encode("utf-8")
    headers = sign(method, path, body, sim.app_key, secret, timestamp=timestamp, nonce=nonce)
    headers["Content-Type"] = "application/json; charset=utf-8"
    return (session or requests).request(method, sim.base_url + path, data=body or None, params=params,
                                         headers=headers, timeout=timeout)


AGENCY = "11410523MB1234567X"  # an agency's unified social credit code (the platform checks presence, not checksum)


def penalty(key: str, uid: str = "tax-CF-001", department: str = "tax", day: str = "2024-06-03", **fields) -> dict:
    payload = {"CF_XDR_MC": "某某餐饮有限公司", "CF_XDR_LB": "法人及非法人组织", "CF_XDR_SHXYM": "914403001922038216",
               "CF_FRDB": "王某", "CF_WSH": "税罚〔2024〕12号", "CF_WFXW": "未按规定办理纳税申报", "CF_SY": "经查……",
               "CF_YJ": "《税收征收管理法》第六十二条", "CF_CFLB": "罚款", "CF_NR": "罚款 0.2 万元", "CF_NR_FK": 0.2,
               "CF_JDRQ": day, "CF_YXQ": "2025-06-03", "CF_CFJG": "某某县税务局", "CF_CFJGDM": AGENCY,
               "CF_SJLY": "某某县税务局", "CF_SJLYDM": AGENCY, **fields}
    return {"idempotency_key": key, "action": "upsert", "record_type": "penalty", "record_uid": uid,
            "department_code": department, "decision_date": day,
            "payload": {code: value for code, value in payload.items() if value is not None}}


def licence(key: str, uid: str = "market-XK-001", department: str = "market", day: str = "2024-06-04",
            **fields) -> dict:
    payload = {"XK_XDR_MC": "张某", "XK_XDR_LB": "自然人", "XK_XDR_ZJLX": "身份证", "XK_XDR_ZJHM": "4105**********1234",
               "XK_XKWS": "食品经营许可决定书", "XK_WSH": "JY1410523000123", "XK_XKLB": "普通", "XK_NR": "食品经营许可",
               "XK_JDRQ": day, "XK_YXQZ": day, "XK_YXQZI": "2099-12-31", "XK_XKJG": "某某县市场监督管理局",
               "XK_XKJGDM": AGENCY, "XK_LYDW": "某某县市场监督管理局", "XK_LYDWDM": AGENCY, **fields}
    return {"idempotency_key": key, "action": "upsert", "record_type": "license", "record_uid": uid,
            "department_code": department, "decision_date": day,
            "payload": {code: value for code, value in payload.items() if value is not None}}


def push(sim: PlatformSimulator, *items: dict, **kwargs) -> requests.Response:
    return call(sim, "POST", PUBLICITY, {"items": list(items)}, **kwargs)


def receipts(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    return response.json()["receipts"]


# -- publishing -----------------------------------------------------------------------------------


def test_health_is_unsigned_and_names_the_flavor(sim, national):
    assert requests.get(sim.base_url + "/health", timeout=5).json() == {"status": "ok", "flavor": "provincial"}
    assert requests.get(national.base_url + "/health", timeout=5).json() == {"status": "ok", "flavor": "national"}


def test_signed_push_is_accepted_and_stored(sim):
    items = [penalty("tax:CF-001:v1"), licence("market:XK-001:v1")]
    with requests.Session() as session:  # keep-alive: every answer leaves the connection usable
        answer = receipts(push(sim, *items, session=session))
        assert [r["idempotency_key"] for r in answer] == ["tax:CF-001:v1", "market:XK-001:v1"]
        assert all(r["status"] == "accepted" and r["duplicate"] is False and r["reason_code"] is None
                   and r["reason"] is None and r["receipt_id"] for r in answer)
        assert answer[0]["receipt_id"] != answer[1]["receipt_id"]
        stored = call(sim, "GET", f"{PUBLICITY}/records/tax:CF-001:v1", session=session).json()
    assert stored["status"] == "accepted" and stored["receipt_id"] == answer[0]["receipt_id"]
    assert stored["payload"] == items[0]["payload"]  # Chinese text and numbers round-trip unchanged
    assert (stored["record_uid"], stored["current_state"], stored["action"]) == ("tax-CF-001", "published", "upsert")
    assert sim.count_accepted() == 2
    stats = sim.stats()
    assert stats["accepted"] == 2 and stats["unique_keys"] == 2 and stats["requests"] == 2
    assert stats["faults_injected"] == 0 and stats["auth_failures"] == {}


def test_authentication_failures_are_401_json_with_codes(sim):
    body = json.dumps({"items": [penalty("k-auth")]}).encode()
    url = sim.base_url + PUBLICITY

    def attempt(headers: dict[str, str], data: bytes = body) -> tuple[int, str, str]:
        response = requests.post(url, data=data, headers=headers, timeout=5)
        document = response.json()
        return response.status_code, document["error"], document["message"]

    assert attempt({})[:2] == (401, "missing_signature")
    assert attempt(sign("POST", PUBLICITY, body, sim.app_key, "wrong-secret"))[:2] == (401, "bad_signature")
    assert attempt(sign("POST", PUBLICITY, body, "someone-else", SECRET))[:2] == (401, "unknown_app_key")
    tampered = body.replace(b"k-auth", b"k-evil")
    assert attempt(sign("POST", PUBLICITY, body, sim.app_key, SECRET), tampered)[:2] == (401, "bad_digest")
    stale = sign("POST", PUBLICITY, body, sim.app_key, SECRET, timestamp=int(time.time()) - 301 - 5)
    status, code, message = attempt(stale)
    assert (status, code) == (401, "clock_skew") and " / " in message
    future = sign("POST", PUBLICITY, body, sim.app_key, SECRET, timestamp=int(time.time()) + 400)
    assert attempt(future)[:2] == (401, "clock_skew")
    signed = sign("POST", PUBLICITY, body, sim.app_key, SECRET)
    assert requests.post(url, data=body, headers=signed, timeout=5).status_code == 200
    status, code, message = attempt(signed)  # the very same headers again: a replay
    assert (status, code) == (401, "replayed_nonce") and SECRET not in message
    # signed for another path (the query string is not signed, the path is)
    other = sign("POST", "/api/v1/other", body, sim.app_key, SECRET)
    assert attempt(other)[:2] == (401, "bad_signature")
    assert sim.count_accepted() == 1
    assert sim.stats()["auth_failures"] == {"missing_signature": 1, "bad_signature": 2, "unknown_app_key": 1,
                                            "bad_digest": 1, "clock_skew": 2, "replayed_nonce": 1}


def test_nonces_survive_a_restart_and_are_forgotten_after_the_window(tmp_path):
    """A request captured on the wire and replayed after the platform restarted is still refused
    (docs/platform_api.md: a nonce is used once while its timestamp is inside the window)."""
    store = tmp_path / "restart.sqlite"
    body = json.dumps({"items": [penalty("k-restart")]}).encode()
    signed = sign("POST", PUBLICITY, body, "creditwh", SECRET)
    with PlatformSimulator("provincial", store, secret=SECRET) as first:
        assert requests.post(first.base_url + PUBLICITY, data=body, headers=signed, timeout=5).status_code == 200
    with PlatformSimulator("provincial", store, secret=SECRET) as second:
        replay = requests.post(second.base_url + PUBLICITY, data=body, headers=signed, timeout=5)
        assert (replay.status_code, replay.json()["error"]) == (401, "replayed_nonce")
        # a nonce is forgotten once its timestamp has left the window: the store does not grow without end
        old = sign("POST", PUBLICITY, body, "creditwh", SECRET, timestamp=int(time.time()) - 299)
        assert requests.post(second.base_url + PUBLICITY, data=body, headers=old, timeout=5).status_code == 200
        time.sleep(2.1)
        fresh = sign("POST", PUBLICITY, body, "creditwh", SECRET)
        assert requests.post(second.base_url + PUBLICITY, data=body, headers=fresh, timeout=5).status_code == 200
    import sqlite3

    with contextlib.closing(sqlite3.connect(store)) as db:
        kept = {row[0] for row in db.execute("SELECT nonce FROM nonces")}
    assert kept == {signed["X-Nonce"], fresh["X-Nonce"]}


def test_duplicate_key_returns_the_original_receipt_and_stores_nothing(sim):
    first = receipts(push(sim, penalty("dup-1")))[0]
    assert first["status"] == "accepted" and first["duplicate"] is False
    again = receipts(push(sim, penalty("dup-1"), penalty("dup-2", uid="tax-CF-002"), penalty("dup-2", uid="x")))
    assert again[0] == {**first, "duplicate": True}
    assert again[1]["duplicate"] is False and again[2] == {**again[1], "duplicate": True}  # within one batch too
    assert sim.count_accepted() == 2
    stats = sim.stats()
    assert stats["unique_keys"] == 2 and stats["duplicates"] == 2
    assert stats["conflicting_duplicates"] == 1  # dup-2 came back with other content: a client bug made visible
    # a rejected key stays rejected: the original receipt comes back
    rejected = receipts(push(sim, penalty("dup-bad", CF_NR=None)))[0]
    assert receipts(push(sim, penalty("dup-bad")))[0] == {**rejected, "duplicate": True}


def test_unmasked_id_numbers_are_rejected_with_a_reason(sim):
    answer = receipts(push(sim,
                           licence("id-1", uid="u1", XK_XDR_ZJHM="410523199001011234"),
                           penalty("id-2", uid="u2", CF_FRDB="王某", CF_FR_ZJHM="41052319900101123X"),
                           licence("id-3", uid="u3", XK_XDR_ZJHM="４１０５２３１９９００１０１１２３４"),  # full-width
                           licence("id-4", uid="u4", XK_XDR_ZJHM="4105********011234"),  # birth date half shown
                           licence("id-5", uid="u5", XK_XDR_ZJLX="护照", XK_XDR_ZJHM="E12345678"),
                           licence("id-6", uid="u6", XK_XDR_ZJLX="护照", XK_XDR_ZJHM="E123*5678"),  # 8 of 9 shown
                           # an ID number written into the decision's free text, as real decisions do
                           penalty("id-7", uid="u7", CF_SY="当事人王某（身份证号410523199001011238）无证经营"),
                           penalty("id-8", uid="u8", CF_NR="罚款，当事人身份证 410523 19900101 1238"),
                           licence("id-9", uid="u9", BZ="经办人护照号EA1234567"),
                           licence("id-10", uid="u10", XK_XDR_ZJHM="4105**********1234"),
                           licence("id-11", uid="u11", XK_XDR_ZJLX="护照", XK_XDR_ZJHM="E******78"),
                           penalty("id-12", uid="u12", CF_SY="当事人王某（身份证号4105**********1234）无证经营")))
    assert [r["status"] for r in answer] == ["rejected"] * 9 + ["accepted"] * 3
    assert {r["reason_code"] for r in answer[:9]} == {"unmasked_id"}
    assert "XK_XDR_ZJHM" in answer[0]["reason"] and "CF_FR_ZJHM" in answer[1]["reason"]
    assert "CF_SY" in answer[6]["reason"] and "BZ" in answer[8]["reason"] and "passport" in answer[8]["reason"]
    assert " / " in answer[0]["reason"] and "410523199001011234" not in answer[0]["reason"]
    assert sim.count_accepted() == 3


def test_records_are_validated_against_the_standard_fields(sim):
    answer = receipts(push(sim,
                           penalty("v-1", uid="v1", CF_CFJG=None),
                           penalty("v-2", uid="v2", CF_NR="  "),
                           licence("v-3", uid="v3", XK_XKWS=None, XK_WSH=None),
                           licence("v-4", uid="v4", XK_XKWS=None),  # both are 必填 in 2.0
                           penalty("v-5", uid="v5", CF_YXQ="2025/06/03"),
                           {**penalty("v-6", uid="v6"), "decision_date": "20240603"},
                           {**penalty("v-7", uid="v7"), "action": "delete"},
                           {**penalty("v-8", uid="v8"), "record_type": "commitment"},
                           {**penalty("v-9", uid="v9"), "decision_date": "2024-06-02"},
                           {**penalty("v-10"), "record_uid": ""},
                           {"action": "upsert"},
                           "not an object",
                           licence("v-13", uid="v13")))
    codes = [(r["status"], r["reason_code"]) for r in answer]
    assert codes == [("rejected", "missing_field"), ("rejected", "missing_field"), ("rejected", "missing_field"),
                     ("rejected", "missing_field"), ("rejected", "bad_date"), ("rejected", "bad_date"),
                     ("rejected", "unknown_action"), ("rejected", "unknown_record_type"),
                     ("rejected", "date_mismatch"), ("rejected", "missing_field"),
                     ("rejected", "invalid_item"), ("rejected", "invalid_item"), ("accepted", None)]
    assert "CF_CFJG" in answer[0]["reason"] and "XK_XKWS" in answer[2]["reason"] and "XK_WSH" in answer[2]["reason"]
    assert answer[10]["idempotency_key"] is None and answer[10]["receipt_id"]
    assert sim.count_accepted() == 1


@pytest.mark.parametrize(("record", "reason_code", "names"), [
    # what a 2.0 platform requires of a penalty and a licence, beyond what the first version checked
    *[(penalty("s-cf", **{code: None}), "missing_field", code)
      for code in ("CF_WFXW", "CF_SY", "CF_YJ", "CF_YXQ", "CF_CFJGDM", "CF_SJLY", "CF_SJLYDM")],
    *[(licence("s-xk", **{code: None}), "missing_field", code)
      for code in ("XK_XKLB", "XK_NR", "XK_YXQZ", "XK_YXQZI", "XK_XKJGDM", "XK_LYDW", "XK_LYDWDM")],
    # 条件必填 by subject category
    (penalty("s-1", CF_FRDB=None), "missing_field", "CF_FRDB"),
    (penalty("s-2", CF_XDR_SHXYM=None), "missing_field", "CF_XDR_SHXYM"),
    (penalty("s-3", CF_XDR_LB="个体工商户", CF_FRDB=None, CF_XDR_SHXYM=None), "missing_field", "CF_XDR_SHXYM"),
    (licence("s-4", XK_XDR_ZJLX=None), "missing_field", "XK_XDR_ZJLX"),
    (licence("s-5", XK_XDR_ZJHM=None), "missing_field", "XK_XDR_ZJHM"),
    # codes where the standard has labels
    (penalty("s-6", CF_XDR_LB="02"), "bad_value", "CF_XDR_LB"),
    (licence("s-7", XK_XKLB="01"), "bad_value", "XK_XKLB"),
    (penalty("s-8", CF_CFLB="罚款;暂扣或者吊销许可证"), "bad_value", "CF_CFLB"),
])
def test_a_record_the_standard_would_bounce_is_bounced(sim, record, reason_code, names):
    [answer] = receipts(push(sim, record))
    assert (answer["status"], answer["reason_code"]) == ("rejected", reason_code)
    assert names in answer["reason"] and " / " in answer["reason"]


def test_an_individual_business_needs_no_legal_representative(sim):
    record = penalty("s-9", CF_XDR_LB="个体工商户", CF_FRDB=None, CF_XDR_SHXYM="92410523MA9X2Y3Z4A")
    assert receipts(push(sim, record))[0]["status"] == "accepted"


def test_withdraw_changes_the_current_state_and_the_counts(sim):
    receipts(push(sim, penalty("w-1", uid="p1"), penalty("w-2", uid="p2"), licence("w-3", uid="l1")))
    withdraw = {"idempotency_key": "w-4", "action": "withdraw", "record_type": "penalty", "record_uid": "p1",
                "department_code": "tax", "decision_date": "2024-06-03"}
    assert receipts(push(sim, withdraw))[0]["status"] == "accepted"
    counts = call(sim, "GET", f"{PUBLICITY}/counts", params={"group_by": "department_day"}).json()["counts"]
    assert counts == [
        {"department_code": "market", "decision_date": "2024-06-04", "record_type": "license", "accepted": 1,
         "withdrawn": 0},
        {"department_code": "tax", "decision_date": "2024-06-03", "record_type": "penalty", "accepted": 1,
         "withdrawn": 1},
    ]
    assert call(sim, "GET", f"{PUBLICITY}/records/w-1").json()["current_state"] == "withdrawn"
    # publishing again after a withdrawal brings the record back
    receipts(push(sim, penalty("w-5", uid="p1", CF_NR="罚款 0.3 万元")))
    assert call(sim, "GET", f"{PUBLICITY}/records/w-1").json()["current_state"] == "published"
    tax = call(sim, "GET", f"{PUBLICITY}/counts", params={"group_by": "department_day", "department_code": "tax",
                                                          "date_from": "2024-06-01", "date_to": "2024-06-30"})
    assert tax.json()["counts"] == [{"department_code": "tax", "decision_date": "2024-06-03",
                                     "record_type": "penalty", "accepted": 2, "withdrawn": 0}]
    assert sim.stats()["published"] == 3 and sim.count_accepted() == 5


def test_records_endpoint_pages_and_single_records(sim):
    items = [penalty(f"r-{i}", uid=f"p{i}") for i in range(7)] + [penalty("other-day", uid="q", day="2024-06-05")]
    receipts(push(sim, *items))
    wanted = {"department_code": "tax", "decision_date": "2024-06-03"}
    pages, offset = [], 0
    while True:
        page = call(sim, "GET", f"{PUBLICITY}/records", params={**wanted, "limit": 3, "offset": offset}).json()
        assert page["total"] == 7
        pages.append(page["records"])
        offset += 3
        if offset >= page["total"]:
            break
    served = [r for page in pages for r in page]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [r["idempotency_key"] for r in served] == [f"r-{i}" for i in range(7)]
    assert set(served[0]) >= {"idempotency_key", "record_uid", "record_type", "action", "receipt_id", "accepted_at"}
    assert served[0]["action"] == "upsert" and served[0]["accepted_at"].endswith("Z")
    missing = call(sim, "GET", f"{PUBLICITY}/records/no-such-key")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    bad = call(sim, "GET", f"{PUBLICITY}/records", params={"limit": "0"})
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"
    assert call(sim, "GET", f"{PUBLICITY}/counts", params={"group_by": "month"}).status_code == 400


def test_request_level_errors_are_json(sim):
    too_many = push(sim, *[penalty(f"big-{i}", uid=f"b{i}") for i in range(MAX_ITEMS + 1)])
    assert too_many.status_code == 413 and too_many.json()["error"] == "too_many_items"
    assert sim.count_accepted() == 0
    broken = b'{"items": ['
    response = requests.post(sim.base_url + PUBLICITY, data=broken, timeout=5,
                             headers=sign("POST", PUBLICITY, broken, sim.app_key, SECRET))
    assert response.status_code == 400 and response.json()["error"] == "bad_json"
    assert call(sim, "POST", PUBLICITY, {"records": []}).status_code == 400
    wrong_method = call(sim, "GET", PUBLICITY)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"


# -- indicators -----------------------------------------------------------------------------------


def indicators(key: str, **overrides) -> dict:
    return {"city_code": "410500", "period": "2024-05", "edition": "2020", "idempotency_key": key,
            "values": [{"code": "SGS_JSL", "value": 0.98, "points": 2.5}, {"code": "CCM_L", "value": 0.001,
                                                                              "points": 1}], **overrides}


def test_indicators_only_on_the_national_platform(sim, national):
    first = call(national, "POST", "/api/v1/indicators", indicators("ind-2024-05"))
    assert first.status_code == 200
    receipt = first.json()
    assert receipt["status"] == "accepted" and receipt["duplicate"] is False and receipt["receipt_id"]
    again = call(national, "POST", "/api/v1/indicators", indicators("ind-2024-05")).json()
    assert again == {**receipt, "duplicate": True}
    bad = call(national, "POST", "/api/v1/indicators", indicators("ind-bad", period="2024-13")).json()
    assert bad["status"] == "rejected" and bad["reason_code"] == "bad_period"
    twice = indicators("ind-twice", values=[{"code": "A", "value": 1, "points": 1}] * 2)
    assert call(national, "POST", "/api/v1/indicators", twice).json()["reason_code"] == "duplicate_code"
    assert national.stats()["indicators_accepted"] == 1
    provincial = call(sim, "POST", "/api/v1/indicators", indicators("ind-2024-05"))
    assert provincial.status_code == 404 and provincial.json()["error"] == "not_found"


# -- faults ---------------------------------------------------------------------------------------


def test_server_errors_after_authentication_and_never_on_health(tmp_path):
    with PlatformSimulator("provincial", tmp_path / "s.sqlite", secret=SECRET,
                           faults=PlatformFaults(error_rate=1)) as sim:
        assert requests.get(sim.base_url + "/health", timeout=5).status_code == 200
        unsigned = requests.post(sim.base_url + PUBLICITY, json={"items": []}, timeout=5)
        assert unsigned.status_code == 401  # authentication comes first
        failed = push(sim, penalty("e-1"))
        assert failed.status_code == 500 and failed.json()["error"] == "server_error"
        assert call(sim, "GET", f"{PUBLICITY}/counts", params={"group_by": "department_day"}).status_code == 500
        assert sim.count_accepted() == 0
        assert sim.stats()["faults"] == {"server_error": 2} and sim.stats()["faults_injected"] == 2


def test_rate_limit_carries_retry_after(tmp_path):
    with PlatformSimulator("provincial", tmp_path / "s.sqlite", secret=SECRET,
                           faults=PlatformFaults(rate_limit_rate=1)) as sim:
        limited = push(sim, penalty("rl-1"))
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        assert limited.json()["error"] == "rate_limited"
        assert sim.count_accepted() == 0


def test_resets_raise_connection_error_and_some_pushes_were_stored_first(tmp_path):
    with PlatformSimulator("provincial", tmp_path / "s.sqlite", secret=SECRET,
                           faults=PlatformFaults(reset_rate=1, seed=1)) as sim:
        for i in range(8):
            with pytest.raises(requests.ConnectionError):
                push(sim, penalty(f"reset-{i}", uid=f"p{i}"))
        faults = sim.stats()["faults"]
        assert faults["reset"] == 8
        assert 0 < faults["reset_after_processing"] < 8
        assert sim.count_accepted() == faults["reset_after_processing"]


def test_timeouts_leave_some_pushes_stored_and_a_retry_sees_them_as_duplicates(tmp_path):
    store = tmp_path / "s.sqlite"
    keys = [f"to-{i}" for i in range(6)]
    with PlatformSimulator("national", store, secret=SECRET,
                           faults=PlatformFaults(timeout_rate=1, timeout_seconds=0.6, seed=2)) as sim:
        for i, key in enumerate(keys):
            with pytest.raises(requests.Timeout):
                push(sim, penalty(key, uid=f"p{i}"), timeout=0.15)
        stored = sim.count_accepted()
        assert sim.stats()["faults"]["timeout"] == 6
        assert 0 < stored == sim.stats()["faults"]["timeout_after_processing"] < 6
        # a patient client gets the late answer: 200 when it was processed, else 504 from the gateway
        started = time.monotonic()
        late = push(sim, penalty("to-late", uid="late"), timeout=5)
        assert time.monotonic() - started >= 0.55
        assert (late.status_code, late.json().get("error")) in {(200, None), (504, "gateway_timeout")}
    # the platform keeps its store over a restart; the publisher retries every key it has no receipt for
    with PlatformSimulator("national", store, secret=SECRET) as sim:
        answer = receipts(push(sim, *[penalty(key, uid=f"p{i}") for i, key in enumerate(keys)]))
        assert sum(r["duplicate"] for r in answer) == stored
        assert all(r["status"] == "accepted" for r in answer)
        assert sim.count_accepted() == 6 + (late.status_code == 200)


def test_html_answers_with_status_200(tmp_path):
    with PlatformSimulator("provincial", tmp_path / "s.sqlite", secret=SECRET,
                           faults=PlatformFaults(html_rate=1)) as sim:
        answer = push(sim, penalty("html-1"))
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
        with pytest.raises(ValueError):
            answer.json()
        assert sim.count_accepted() == 0


def test_rejections_by_key_repeat_on_retry(tmp_path):
    faults = PlatformFaults(reject_rate=0.5, seed=7)
    items = [penalty(f"rej-{i}", uid=f"p{i}") for i in range(20)]
    outcomes = []
    for run in range(2):  # two platforms with empty stores: no dedup, the same keys rejected
        with PlatformSimulator("provincial", tmp_path / f"s{run}.sqlite", secret=SECRET, faults=faults) as sim:
            answer = receipts(push(sim, *items))
            outcomes.append([r["reason_code"] for r in answer])
            assert sim.stats()["faults"]["platform_rejected"] == outcomes[-1].count("platform_rejected")
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {None, "platform_rejected"}
    assert [faults.rejects(item["idempotency_key"]) for item in items] == [c is not None for c in outcomes[0]]


def test_latency_applies_to_data_requests_only(tmp_path):
    with PlatformSimulator("provincial", tmp_path / "s.sqlite", secret=SECRET,
                           faults=PlatformFaults(latency_ms=200)) as sim:
        started = time.monotonic()
        assert requests.get(sim.base_url + "/health", timeout=5).status_code == 200
        assert time.monotonic() - started < 0.15
        started = time.monotonic()
        assert push(sim, penalty("lat-1")).status_code == 200
        assert time.monotonic() - started >= 0.19


def _fault_sequence(tmp_path: Path, faults: PlatformFaults, n: int) -> list[str]:
    outcomes = []
    with PlatformSimulator("provincial", tmp_path / f"seq-{faults.seed}-{len(os.listdir(tmp_path))}.sqlite",
                           secret=SECRET, faults=faults) as sim:
        for i in range(n):
            try:
                response = push(sim, penalty(f"seq-{i}", uid=f"p{i}"))
            except requests.ConnectionError:
                outcomes.append("reset")
                continue
            outcomes.append(f"{response.status_code} {response.headers['Content-Type'].split(';')[0]}")
    return outcomes


def test_fault_sequence_repeats_under_a_seed(tmp_path):
    faults = PlatformFaults(error_rate=0.2, rate_limit_rate=0.2, reset_rate=0.2, html_rate=0.2, seed=42)
    first = _fault_sequence(tmp_path, faults, 30)
    assert first == _fault_sequence(tmp_path, faults, 30)
    assert first != _fault_sequence(tmp_path, PlatformFaults(**{**faults.__dict__, "seed": 43}), 30)
    assert set(first) == {"200 application/json", "500 application/json", "429 application/json", "reset",
                          "200 text/html"}


def test_fault_knobs_are_checked():
    with pytest.raises(UserError, match="add up to more than 1"):
        PlatformFaults(error_rate=0.6, timeout_rate=0.6)
    with pytest.raises(UserError, match="between 0 and 1"):
        PlatformFaults(reject_rate=1.5)
    with pytest.raises(UserError, match="timeout_seconds"):
        PlatformFaults(timeout_seconds=0)
    PlatformFaults(error_rate=0.5, html_rate=0.5, reject_rate=1)  # per-record rejections do not count


def test_store_belongs_to_one_flavor_and_secrets_stay_out_of_reprs(tmp_path):
    with PlatformSimulator("provincial", tmp_path / "s.sqlite", secret=SECRET) as sim:
        assert SECRET not in repr(sim)
        env = sim.connection_env()
        entry = json.loads(env["AIRFLOW_CONN_PLATFORM_PROVINCIAL"])
        assert (entry["login"], entry["password"], entry["port"]) == ("creditwh", SECRET, sim.port)
    with pytest.raises(UserError, match="provincial"):
        PlatformSimulator("national", tmp_path / "s.sqlite", secret=SECRET).start()
    with pytest.raises(UserError, match="flavor"):
        PlatformSimulator("county", tmp_path / "c.sqlite")  # type: ignore[arg-type]
    random_secret = PlatformSimulator("national", tmp_path / "n.sqlite")
    assert len(random_secret.secret) >= 32


def test_stop_is_prompt_with_idle_connections_and_hanging_requests(tmp_path):
    sim = PlatformSimulator("provincial", tmp_path / "s.sqlite", secret=SECRET,
                            faults=PlatformFaults(timeout_rate=1, timeout_seconds=30)).start()
    url = sim.base_url
    with requests.Session() as session:
        assert session.get(url + "/health", timeout=5).status_code == 200  # idle keep-alive connection
        with pytest.raises(requests.Timeout):
            push(sim, penalty("hang"), timeout=0.2)  # a handler now waits 30 s
        started = time.monotonic()
        sim.stop()
        assert time.monotonic() - started < 3
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/health", timeout=2)


# -- command line ---------------------------------------------------------------------------------


def _read_until(stream, marker: str, deadline: float) -> list[str]:
    lines = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"no line with {marker!r} in {lines}")


@pytest.mark.parametrize("from_env", [True, False])
def test_cli_serves_and_never_shows_the_secret(tmp_path, from_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITWH_PLATFORM_")}
    if from_env:
        env |= {"CREDITWH_PLATFORM_SECRET": SECRET, "CREDITWH_PLATFORM_APP_KEY": "county-wh"}
    process = subprocess.Popen([sys.executable, "-m", "etl", "sim", "platform", "--flavor", "national", "--port", "0",
                                "--store", str(tmp_path / "cli.sqlite"), "--seed", "3"],
                               cwd=config.PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    try:
        lines = _read_until(process.stdout, "Ctrl-C to stop", time.monotonic() + 30)
        url = lines[0].split()[4]
        assert requests.get(url + "/health", timeout=5).json() == {"status": "ok", "flavor": "national"}
        if from_env:
            body = json.dumps({"items": [penalty("cli-1")]}, ensure_ascii=False).encode()
            answer = requests.post(url + PUBLICITY, data=body, timeout=5,
                                   headers=sign("POST", PUBLICITY, body, "county-wh", SECRET))
            assert answer.json()["receipts"][0]["status"] == "accepted"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    text = "\n".join(lines) + out + err
    assert process.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err
    assert SECRET not in text and "local-simulator-secret" not in text
    assert '"password": "****"' in text
    assert ("CREDITWH_PLATFORM_SECRET not set" in text) is not from_env
