"""The small pages the proxy answers with when no upstream response can be relayed."""

from __future__ import annotations

from frontdesk.http.rules import reason_phrase

_PAGE = (
    "<!doctype html>\n<html><head><title>{status} {phrase}</title></head>\n"
    "<body><h1>{status} {phrase}</h1><p>{detail}</p><hr><p>frontdesk</p></body></html>\n"
)

_DETAILS = {
    502: "The upstream server could not be reached or gave an invalid response.",
    503: "No upstream server is available to handle this request.",
    504: "The upstream server did not answer in time.",
}


def error_page(status: int) -> bytes:
    phrase = reason_phrase(status).decode("ascii")
    detail = _DETAILS.get(status, "The request could not be proxied.")
    return _PAGE.format(status=status, phrase=phrase, detail=detail).encode("utf-8")


PAGE_TYPE = (b"content-type", b"text/html; charset=utf-8")
