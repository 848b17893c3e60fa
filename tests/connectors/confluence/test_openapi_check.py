"""The OpenAPI check of the fake can fail: drifted requests and answers are reported."""

import json

from tests.fakes.confluence_openapi import SpecCheck, SpecRequest, SpecResponse

AUTH = {"Authorization": "Basic YTpi"}


def spaces_request(query=()) -> SpecRequest:
    return SpecRequest(path="/wiki/api/v2/spaces", method="get", query=list(query), headers=AUTH, body=None,
                       content_type="")  # fmt: skip


def ok(body) -> SpecResponse:
    return SpecResponse(status_code=200, data=json.dumps(body).encode(), headers={})


def test_a_conforming_exchange_passes():
    check = SpecCheck()
    check.check(spaces_request([("limit", "250")]), ok({"results": [{"id": "1", "key": "A", "status": "current"}]}))
    assert check.violations == [] and (check.requests_checked, check.responses_checked) == (1, 1)


def test_an_out_of_range_parameter_is_a_request_violation():
    check = SpecCheck()
    check.check(spaces_request([("limit", "999")]), ok({"results": []}))
    assert len(check.violations) == 1 and "limit" in check.violations[0]


def test_an_answer_that_drifted_from_the_description_is_a_response_violation():
    check = SpecCheck()
    check.check(spaces_request(), ok({"results": [{"id": 1, "status": "sleeping"}]}))
    assert len(check.violations) == 1 and check.violations[0].startswith("response 200")


def page_write(body) -> SpecRequest:
    payload = {"spaceId": "1", "status": "current", "title": "T", "body": body}
    return SpecRequest(path="/wiki/api/v2/pages", method="post", query=[], headers=AUTH,
                       body=json.dumps(payload).encode(), content_type="application/json")  # fmt: skip


def test_the_overlapping_one_of_of_page_bodies_is_tolerated_but_the_body_is_still_checked():
    check = SpecCheck()
    check.check(page_write({"representation": "storage", "value": "<p>x</p>"}), ok({"id": "5"}))
    assert check.violations == []
    check.check(page_write({"representation": "html", "value": "<p>x</p>"}), ok({"id": "5"}))
    assert len(check.violations) == 1 and "'html' is not one of" in check.violations[0]


def test_statuses_the_file_does_not_describe_are_counted_not_validated():
    check = SpecCheck()
    check.check(spaces_request(), SpecResponse(status_code=429, data=b'{"errors": []}', headers={}))
    assert check.violations == [] and check.undescribed_answers == 1
