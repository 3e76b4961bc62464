"""Go's net/http and cmux, as stages/api/http/net_http.py reproduces them (the answers
themselves are compared with a real etcd's in tests/integration/test_fuzz_conformance.py)."""
from petcd.stages.api.http import net_http
from petcd.stages.api.http.net_http import go_error_answer, is_http1_request_line


def test_cmux_takes_only_http1_request_lines():
    assert is_http1_request_line(b"POST /v3/kv/range HTTP/1.1\r")
    assert is_http1_request_line(b"GET / HTTP/1.0")
    assert is_http1_request_line(b"post /x HTTP/1.5")          # Go parses any 1.d
    assert is_http1_request_line(b"POST /a b HTTP/1.1") is False  # proto is "b HTTP/1.1"
    assert not is_http1_request_line(b"POST  /v3/kv/range HTTP/1.1")  # empty URI, bad proto
    assert not is_http1_request_line(b"POST /v3/kv/range HTTP/9.9")
    assert not is_http1_request_line(b"POST /v3/kv/range HTTP/1.10")
    assert not is_http1_request_line(b"GARBAGE")
    assert not is_http1_request_line(b"POST /v3/kv/range")


def test_go_error_answers_have_gos_headers_and_no_length():
    assert go_error_answer("400 Bad Request: missing required Host header") == (
        b"HTTP/1.1 400 Bad Request: missing required Host header\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
        b"400 Bad Request: missing required Host header")
    assert go_error_answer("501 Not Implemented", "Unsupported transfer encoding").endswith(
        b"\r\n\r\nUnsupported transfer encoding")


def test_a_percent_without_two_hex_digits_in_the_path_is_refused():
    assert net_http._bad_escape(b"/v3/kv/range%")
    assert net_http._bad_escape(b"/v3/kv/range%zz")
    assert net_http._bad_escape(b"/v3/kv/%7")
    assert not net_http._bad_escape(b"/v3/kv/%72ange")
    assert not net_http._bad_escape(b"/v3/kv/range?x=%")  # the query is not parsed by then
