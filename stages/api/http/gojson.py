"""Go's encoding/json and encoding/base64, as far as etcd's gateway lets a client see them.

Theory of operation: etcd 3.4's HTTP gateway reads a request body with Go's `json.Decoder`
(first JSON value only), then golang/protobuf v1.3's jsonpb hands each field's raw JSON text to
`json.Unmarshal`. Every error text a client can get back for a malformed body is therefore a Go
`encoding/json` or `encoding/base64` message. This module reproduces those messages exactly:

* `parse_stream(data)`: what `json.Decoder.Decode` does with the body: skip whitespace, read one
  value, ignore whatever follows it; `EOF` for an empty body; `unexpected EOF` when the body ends
  inside the value; the scanner's `invalid character ...` messages otherwise.
* `parse_unmarshal(data)`: what `json.Unmarshal` does with a whole buffer (used for the text
  between the quotes of an integer sent as a JSON string, which jsonpb unmarshals again).
* `b64decode(s)`: `base64.StdEncoding.Decode`, with Go's `illegal base64 data at input byte N`.
* `quote(raw)`: Go's `%q` / `strconv.Quote`, used in jsonpb's enum error.

Values come back as Python values, except that strings are `GoStr` (a str that also keeps the raw
bytes between its quotes, since jsonpb re-reads those raw bytes for enums and integers) and
numbers are `GoNum` (the literal's text, since Go's errors quote the literal as written).

This is the slow path: the codec tries orjson first and comes here only for bodies orjson rejects
or that need the raw text. It never raises anything but `GoJSONError` and never recurses per
nesting level (Go allows 10000 levels).
"""
from __future__ import annotations

import codecs
import re
import unicodedata

MAX_NESTING_DEPTH = 10000  # encoding/json's maxNestingDepth


class GoJSONError(Exception):
    """A Go encoding/json or encoding/base64 error; str(e) is Go's message."""


class GoStr(str):
    """A decoded JSON string that remembers its raw bytes (between the quotes)."""
    __slots__ = ("raw",)

    def __new__(cls, value: str, raw: bytes):
        s = super().__new__(cls, value)
        s.raw = raw
        return s


class GoNum:
    """A JSON number literal, kept as written."""
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"GoNum({self.text})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoNum) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


EOF = object()  # parse_stream on an empty (all-whitespace) body: io.EOF

_WS_RE = re.compile(rb"[ \t\r\n]*")
_STR_RUN = re.compile(rb'[^"\\\x00-\x1f]*')
_DIGITS = re.compile(rb"[0-9]*")
_HEX = b"0123456789abcdefABCDEF"
_ESCAPES = {ord('"'): '"', ord("\\"): "\\", ord("/"): "/", ord("b"): "\b", ord("f"): "\f",
            ord("n"): "\n", ord("r"): "\r", ord("t"): "\t"}


# --------------------------------------------------------------------------------------------
# Go's quoting (strconv.Quote and the scanner's quoteChar)

def _go_is_print(ch: str) -> bool:
    # strconv.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space.
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


_NAMED = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}


def _quote_rune(ch: str, quote: str) -> str:
    o = ord(ch)
    if ch == quote or ch == "\\":
        return "\\" + ch
    if o < 0x80 and 0x20 <= o < 0x7F:
        return ch
    if o >= 0x80 and _go_is_print(ch):
        return ch
    if o in _NAMED:
        return _NAMED[o]
    if o < 0x20 or o == 0x7F:
        return "\\x%02x" % o
    if o < 0x10000:
        return "\\u%04x" % o
    return "\\U%08x" % o


def quote(raw: bytes) -> str:
    """Go's strconv.Quote(string(raw)): invalid UTF-8 bytes become \\xNN."""
    out = ['"']
    i, n = 0, len(raw)
    while i < n:
        # Decode one rune the way utf8.DecodeRune does: bad input -> one byte of RuneError.
        ch, size = _decode_rune(raw, i)
        if ch is None:
            out.append("\\x%02x" % raw[i])
        else:
            out.append(_quote_rune(ch, '"'))
        i += size
    out.append('"')
    return "".join(out)


def _decode_rune(b: bytes, i: int) -> tuple[str | None, int]:
    c = b[i]
    if c < 0x80:
        return chr(c), 1
    for size in (2, 3, 4):
        chunk = b[i:i + size]
        try:
            s = chunk.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if len(s) == 1:
            return s, size
    return None, 1


def quote_char(c: int) -> str:
    """encoding/json's quoteChar: how the scanner names an offending byte."""
    if c == ord("'"):
        return "'\\''"
    if c == ord('"'):
        return "'\"'"
    return "'" + _quote_rune(chr(c), '"') + "'"


# --------------------------------------------------------------------------------------------
# Go's string unquoting: invalid UTF-8 -> U+FFFD per bad byte; lone surrogates -> U+FFFD

def _go_replace(err: UnicodeDecodeError):
    return "\ufffd", err.start + 1


codecs.register_error("petcd-go-replace", _go_replace)


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "petcd-go-replace")


def _getu4(raw: bytes, i: int) -> int:
    """The value of a \\uXXXX escape at raw[i], or -1."""
    if i + 6 > len(raw) or raw[i] != 0x5C or raw[i + 1] != 0x75:
        return -1
    try:
        return int(raw[i + 2:i + 6], 16)
    except ValueError:
        return -1


def _unquote(raw: bytes) -> str:
    """The string value of raw (the bytes between the quotes), as Go's unquoteBytes."""
    if b"\\" not in raw:
        return _utf8(raw)
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        j = raw.find(b"\\", i)
        if j < 0:
            out.append(_utf8(raw[i:]))
            break
        if j > i:
            out.append(_utf8(raw[i:j]))
        e = raw[j + 1]
        if e != 0x75:  # not \u: the scanner already checked it is one of "\/bfnrt
            out.append(_ESCAPES[e])
            i = j + 2
            continue
        r = int(raw[j + 2:j + 6], 16)
        i = j + 6
        if 0xD800 <= r < 0xE000:
            r1 = _getu4(raw, i)
            if 0xD800 <= r < 0xDC00 and 0xDC00 <= r1 < 0xE000:
                out.append(chr(0x10000 + ((r - 0xD800) << 10) + (r1 - 0xDC00)))
                i += 6
                continue
            r = 0xFFFD
        out.append(chr(r))
    return "".join(out)


# --------------------------------------------------------------------------------------------
# The parser: Go's scanner states, with the same error for the same first bad byte


class _Syntax(Exception):
    def __init__(self, pos: int, msg: str):
        self.pos = pos
        self.msg = msg


class _Ran(Exception):
    """Ran off the end of the data."""


def _err(data: bytes, pos: int, context: str) -> _Syntax:
    return _Syntax(pos, f"invalid character {quote_char(data[pos])} {context}")


def _parse(data: bytes, start: int) -> tuple[object, int]:
    """Parse one value starting at data[start] (after whitespace). Returns (value, end)."""
    n = len(data)
    stack: list[list] = []  # [container, pending key]

    def ws(p: int) -> int:
        return _WS_RE.match(data, p).end()

    def need(p: int) -> int:
        if p >= n:
            raise _Ran()
        return data[p]

    def string(p: int) -> tuple[GoStr, int]:
        # data[p] is the opening quote
        q = p + 1
        while True:
            q = _STR_RUN.match(data, q).end()
            c = need(q)
            if c == 0x22:
                raw = data[p + 1:q]
                return GoStr(_unquote(raw), raw), q + 1
            if c == 0x5C:
                e = need(q + 1)
                if e == 0x75:
                    for k in range(q + 2, q + 6):
                        if need(k) not in _HEX:
                            raise _err(data, k, "in \\u hexadecimal character escape")
                    q += 6
                elif e in _ESCAPES:
                    q += 2
                else:
                    raise _err(data, q + 1, "in string escape code")
                continue
            raise _err(data, q, "in string literal")  # control character

    def number(p: int) -> tuple[GoNum, int]:
        q = p
        if data[q] == 0x2D:
            q += 1
            c = need(q)
            if not 0x30 <= c <= 0x39:
                raise _err(data, q, "in numeric literal")
        if data[q] == 0x30:
            q += 1
        else:
            q = _DIGITS.match(data, q).end()
        if q < n and data[q] == 0x2E:
            q += 1
            c = need(q)
            if not 0x30 <= c <= 0x39:
                raise _err(data, q, "after decimal point in numeric literal")
            q = _DIGITS.match(data, q).end()
        if q < n and data[q] in b"eE":
            q += 1
            c = need(q)
            if c in b"+-":
                q += 1
                c = need(q)
            if not 0x30 <= c <= 0x39:
                raise _err(data, q, "in exponent of numeric literal")
            q = _DIGITS.match(data, q).end()
        return GoNum(data[p:q].decode("ascii")), q

    def literal(p: int, word: bytes, value: object) -> tuple[object, int]:
        for k in range(1, len(word)):
            c = need(p + k)
            if c != word[k]:
                raise _err(data, p + k,
                           f"in literal {word.decode()} (expecting {quote_char(word[k])})")
        return value, p + len(word)

    def push(p: int, container) -> None:
        stack.append([container, None])
        if len(stack) > MAX_NESTING_DEPTH:
            raise _err(data, p, "exceeded max depth")

    pos = start
    while True:
        # stateBeginValue at pos (whitespace already skipped)
        c = need(pos)
        if c == 0x7B:  # {
            push(pos, {})
            pos = ws(pos + 1)
            c = need(pos)
            if c == 0x7D:
                value = stack.pop()[0]
                pos += 1
            else:
                if c != 0x22:
                    raise _err(data, pos, "looking for beginning of object key string")
                key, pos = string(pos)
                stack[-1][1] = str(key)
                pos = ws(pos)
                if need(pos) != 0x3A:
                    raise _err(data, pos, "after object key")
                pos = ws(pos + 1)
                continue
        elif c == 0x5B:  # [
            push(pos, [])
            pos = ws(pos + 1)
            if need(pos) == 0x5D:
                value = stack.pop()[0]
                pos += 1
            else:
                continue
        elif c == 0x22:
            value, pos = string(pos)
        elif c == 0x2D or 0x30 <= c <= 0x39:
            value, pos = number(pos)
        elif c == 0x74:
            value, pos = literal(pos, b"true", True)
        elif c == 0x66:
            value, pos = literal(pos, b"false", False)
        elif c == 0x6E:
            value, pos = literal(pos, b"null", None)
        else:
            raise _err(data, pos, "looking for beginning of value")

        # stateEndValue: hand the value to its container, close containers that end here
        while True:
            if not stack:
                return value, pos
            top = stack[-1]
            container = top[0]
            pos = ws(pos)
            c = need(pos)
            if type(container) is dict:
                container[top[1]] = value
                if c == 0x2C:
                    pos = ws(pos + 1)
                    if need(pos) != 0x22:
                        raise _err(data, pos, "looking for beginning of object key string")
                    key, pos = string(pos)
                    top[1] = str(key)
                    pos = ws(pos)
                    if need(pos) != 0x3A:
                        raise _err(data, pos, "after object key")
                    pos = ws(pos + 1)
                    break
                if c == 0x7D:
                    stack.pop()
                    value = container
                    pos += 1
                    continue
                raise _err(data, pos, "after object key:value pair")
            container.append(value)
            if c == 0x2C:
                pos = ws(pos + 1)
                break
            if c == 0x5D:
                stack.pop()
                value = container
                pos += 1
                continue
            raise _err(data, pos, "after array element")


def parse_stream(data: bytes) -> object:
    """json.Decoder.Decode: the first JSON value of data, or EOF for a blank body."""
    start = _WS_RE.match(data, 0).end()
    if start == len(data):
        return EOF
    n = len(data)
    # At the end of its input the decoder feeds the scanner one space: a top-level number or
    # literal ends there; anything else still open is io.ErrUnexpectedEOF.
    padded = data + b" "
    try:
        value, _ = _parse(padded, start)
    except _Ran:
        raise GoJSONError("unexpected EOF") from None
    except _Syntax as e:
        if e.pos >= n:
            raise GoJSONError("unexpected EOF") from None
        raise GoJSONError(e.msg) from None
    return value


NEED_MORE = object()  # next_value_end: the value may go on in data not received yet


def next_value_end(data: bytes, start: int, final: bool) -> object:
    """json.Decoder reading the next value of a stream at data[start:]: the offset just past
    it, EOF (only whitespace left and the stream is over), or NEED_MORE (the value may go on
    in bytes not received yet). Raises GoJSONError with the Decoder's message otherwise."""
    n = len(data)
    p = _WS_RE.match(data, start).end()
    if p == n:
        return EOF if final else NEED_MORE
    try:
        value, end = _parse(data + b" " if final else data, p)
    except _Ran:
        if final:
            raise GoJSONError("unexpected EOF") from None
        return NEED_MORE
    except _Syntax as e:
        if e.pos >= n:
            if final:
                raise GoJSONError("unexpected EOF") from None
            return NEED_MORE
        raise GoJSONError(e.msg) from None
    if not final and end >= n and not isinstance(value, (dict, list, str)):
        return NEED_MORE  # a number or literal at the end of the data may still go on
    return min(end, n)


def parse_unmarshal(data: bytes) -> object:
    """json.Unmarshal's view of a whole buffer: one value and only whitespace after it."""
    # scanner.eof() steps one space before it says "unexpected end of JSON input".
    padded = data + b" "
    start = _WS_RE.match(padded, 0).end()
    try:
        value, end = _parse(padded, start)
        end = _WS_RE.match(padded, end).end()
        if end < len(padded):
            raise _err(padded, end, "after top-level value")
    except _Ran:
        raise GoJSONError("unexpected end of JSON input") from None
    except _Syntax as e:
        raise GoJSONError(e.msg) from None
    return value


# --------------------------------------------------------------------------------------------
# encoding/base64 StdEncoding.Decode (padded, non-strict: \r and \n are skipped)

_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64MAP = [0xFF] * 256
for _i, _c in enumerate(_B64):
    _B64MAP[_c] = _i
del _i, _c


def _corrupt(n: int) -> GoJSONError:
    return GoJSONError(f"illegal base64 data at input byte {n}")


def b64decode(src: bytes) -> bytes:
    """base64.StdEncoding.Decode, quantum by quantum as Go's decodeQuantum."""
    out = bytearray()
    si, n = 0, len(src)
    while si < n:
        dbuf = [0, 0, 0, 0]
        dlen = 4
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return bytes(out)
                raise _corrupt(si - j)  # padding required, and j == 1 is never valid
            c = src[si]
            si += 1
            v = _B64MAP[c]
            if v != 0xFF:
                dbuf[j] = v
                j += 1
                continue
            if c == 0x0A or c == 0x0D:
                continue
            if c != 0x3D:
                raise _corrupt(si - 1)
            # padding
            if j in (0, 1):
                raise _corrupt(si - 1)
            if j == 2:
                while si < n and src[si] in (0x0A, 0x0D):
                    si += 1
                if si == n:
                    raise _corrupt(n)
                if src[si] != 0x3D:
                    raise _corrupt(si - 1)
                si += 1
            while si < n and src[si] in (0x0A, 0x0D):
                si += 1
            if si < n:
                raise _corrupt(si)  # trailing garbage
            dlen = j
            break
        val = (dbuf[0] << 18) | (dbuf[1] << 12) | (dbuf[2] << 6) | dbuf[3]
        out += bytes(((val >> 16) & 0xFF, (val >> 8) & 0xFF, val & 0xFF))[:dlen - 1]
        if dlen < 4:
            return bytes(out)
    return bytes(out)
