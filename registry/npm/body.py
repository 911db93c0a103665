"""Reading a PUT body from npm as it arrives, in bounded memory.

``npm publish`` sends one JSON document with the tarball inside it as a base64 string
(``_attachments.<file>.data``): up to ~134 MiB of text for a 100 MiB tarball. Holding that, its parse
and its decoding at once costs several times the body per request. Here the one string at
``_attachments.<file>.data`` is diverted as it arrives: its base64 is decoded piece by piece and
handed on (to the content store), and a marker string takes its place in the document. The rest of
the document (the packument, the readme), bounded by ``document_limit``, is built by ijson's C
parser piece by piece (never one long parse holding the interpreter while other requests wait).

Finding that string needs to know where each JSON string starts and ends (a few ``find`` calls per
piece, never a loop over characters) and where in the document it is, which ijson (its C parser)
tells: before an object value that is a string, everything up to it is given to ijson, whose last
event then names its key and the path of objects around it. ijson also checks the JSON as it
comes, so a broken body is refused early.
"""

from __future__ import annotations

import binascii
import json
import re
import secrets
import time
from collections.abc import Iterator

import ijson

MAX_DEPTH = 64
ATTACHMENTS = "_attachments"
_QUOTE_OR_ESCAPE = re.compile(rb'["\\]')
_BRACKETS = re.compile(rb"[\[\]{}]")
# ijson is handed the document in pieces of about this size (it keeps partial tokens between pieces):
# a few milliseconds of parsing at most, between which a worker thread lets the event loop run.
_FLUSH_BYTES = 4 * 1024
# Parse events (keys, values, brackets) in a document: a packument of thousands of versions has a few
# hundred thousand; a document of nothing but tiny values would cost seconds of CPU per MiB.
MAX_DOCUMENT_VALUES = 1_000_000
_WHITESPACE = b" \t\r\n"
# The part before the tarball is read for the early refusals only up to this size (one json.loads).
MAX_HEAD_BYTES = 1024 * 1024


class BadBody(ValueError):
    """The body is refused; the message is safe to show."""


class BodyTooLarge(BadBody):
    pass


class _Base64Pieces:
    """Strict base64, decoded a piece at a time (a piece need not end on a 4-character boundary)."""

    def __init__(self) -> None:
        self._carry = b""
        self._padded = False
        self.text_length = 0

    def decode(self, text: bytes) -> bytes:
        self.text_length += len(text)
        text = self._carry + text
        whole = len(text) // 4 * 4
        self._carry = text[whole:]
        if not whole:
            return b""
        if self._padded:
            raise BadBody("the attachment's data is not valid base64")
        try:
            data = binascii.a2b_base64(text[:whole], strict_mode=True)
        except binascii.Error:
            raise BadBody("the attachment's data is not valid base64") from None
        self._padded = text[whole - 1:whole] == b"="
        return data

    def end(self) -> None:
        if self._carry:
            raise BadBody("the attachment's data is not valid base64")


class PutBodyReader:
    """Feed the body's bytes in order; get back the attachment's decoded bytes; then ``document()``.

    ``feed`` stops early, once, right where the attachment's data begins (``attachment_started``
    turns true), so the caller can refuse the publish from the document read so far (an existing
    version, a wrong name) before reading the tarball; then it calls ``feed(b"")`` to go on.
    """

    def __init__(self, document_limit: int, data_limit: int) -> None:
        self.document_limit = document_limit
        self.data_limit = data_limit
        # The string ijson sees where the attachment's data was; no client can guess it.
        self.marker = "\u0000attachment-" + secrets.token_hex(16)
        self._events = ijson.sendable_list()
        self._parser = ijson.parse_coro(self._events)
        self._objects = ijson.sendable_list()
        self._builder = ijson.items_coro(self._objects, "", use_float=True)
        self._last_event: tuple | None = None
        self._values = 0  # parse events so far (keys, values, brackets)
        self._depth = 0  # objects and arrays open around the current position
        # The document's text before the attachment's data, while small: read at the early stop.
        self._head_text: list[bytes] | None = []
        self._head_size = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._document_size = 0
        self._last_significant = b""  # the last byte outside strings that is not whitespace
        self._in_string = False
        self._escape = False  # inside a string, the previous byte was a backslash
        self._diverting = False
        self._base64: _Base64Pieces | None = None
        self._rest = b""  # bytes after the point where feed stopped early
        self._head: object = None
        self.attachment_started = False
        self.attachment_name: object = None
        self.finished = False

    # --- what the caller reads ---

    @property
    def attachment_text_length(self) -> int:
        return self._base64.text_length if self._base64 else 0

    @property
    def waiting_bytes(self) -> int:
        """Bytes left over from the early stop, which the next ``feed`` reads first."""
        return len(self._rest)

    @property
    def document_size(self) -> int:
        """Bytes of JSON given to the parser so far (everything but the attachment's data)."""
        return self._document_size

    def document_so_far(self) -> object:
        """At the early stop, the document read before the attachment's data (the objects still open
        closed after the marker), or None if that is not a plain ``{"_attachments": {"f": {...``."""
        return self._head

    def document(self) -> object:
        if not self.finished:
            raise BadBody("the request body ended before the JSON document did")
        return self._objects[0]

    # --- feeding ---

    def feed(self, data: bytes) -> bytes:
        """Consume ``data`` (b"" to go on after the early stop); return attachment bytes decoded from it."""
        if self._rest:
            data, self._rest = self._rest + data, b""
        decoded = b"".join(self._scan(data))
        self._flush()
        return decoded

    def close(self) -> None:
        """The body ended: the document must be complete; it is parsed (run in a worker thread when big)."""
        if self._in_string or self._diverting or self._rest:
            raise BadBody("the request body ended inside a JSON string")
        self._flush()
        try:
            self._parser.close()
            self._builder.close()
        except ijson.JSONError:
            raise BadBody("the request body is not valid JSON") from None
        if len(self._objects) != 1:
            raise BadBody("the request body is not valid JSON")
        self.finished = True

    def _scan(self, data: bytes) -> Iterator[bytes]:
        position, end = 0, len(data)
        while position < end:
            if self._diverting:
                position = yield from self._divert(data, position)
            elif self._in_string:
                position = self._string(data, position)
            else:
                quote = data.find(b'"', position)
                if quote < 0:
                    self._outside(data[position:])
                    return
                self._outside(data[position:quote])
                if self._last_significant == b":" and self._is_attachment_data():
                    self._begin_attachment()
                    self._rest = data[quote + 1:]
                    return
                self._give(b'"')
                self._in_string = True
                position = quote + 1

    def _outside(self, text: bytes) -> None:
        """JSON between strings: structure, numbers, literals. Nesting is checked before ijson sees it
        (its paths grow with the depth: a deep document would cost it quadratic time)."""
        for start in range(0, len(text), _FLUSH_BYTES):
            piece = text[start:start + _FLUSH_BYTES]
            openers = piece.count(b"{") + piece.count(b"[")
            if self._depth + openers > MAX_DEPTH:
                self._check_depth(piece)
            self._depth += openers - piece.count(b"}") - piece.count(b"]")
            self._give_piece(piece)
        stripped = text.rstrip(_WHITESPACE)
        if stripped:
            self._last_significant = stripped[-1:]

    def _check_depth(self, piece: bytes) -> None:
        depth = self._depth
        for bracket in _BRACKETS.findall(piece):
            depth += 1 if bracket in (b"{", b"[") else -1
            if depth > MAX_DEPTH:
                raise BadBody(f"the JSON document is nested more than {MAX_DEPTH} levels deep")

    def _string(self, data: bytes, position: int) -> int:
        """Inside a string handed to ijson: to its end (or the end of the data)."""
        if self._escape:  # the byte after a backslash that ended the previous piece
            self._give(data[position:position + 1])
            self._escape = False
            position += 1
        while position < len(data):
            found = _QUOTE_OR_ESCAPE.search(data, position)
            if found is None:
                self._give(data[position:])
                return len(data)
            at = found.start()
            if data[at] == 0x22:  # the closing quote
                self._give(data[position:at + 1])
                self._in_string = False
                self._last_significant = b'"'
                return at + 1
            if at + 1 < len(data):
                self._give(data[position:at + 2])
                position = at + 2
            else:
                self._give(data[position:])
                self._escape = True
                return len(data)
        return position

    def _divert(self, data: bytes, position: int) -> Iterator[bytes]:
        """Inside the attachment's data: decode it, up to its closing quote."""
        assert self._base64 is not None
        while position < len(data):
            if self._escape:  # JSON may escape "/" as "\/"; nothing else belongs in base64
                if data[position:position + 1] != b"/":
                    raise BadBody("the attachment's data is not valid base64")
                yield self._decode(b"/")
                self._escape = False
                position += 1
                continue
            found = _QUOTE_OR_ESCAPE.search(data, position)
            if found is None:
                yield self._decode(data[position:])
                return len(data)
            at = found.start()
            yield self._decode(data[position:at])
            if data[at] == 0x22:  # the closing quote
                self._base64.end()
                self._diverting = False
                self._last_significant = b'"'
                self._give(json.dumps(self.marker).encode())
                return at + 1
            self._escape = True
            position = at + 1
        return position

    def _decode(self, text: bytes) -> bytes:
        assert self._base64 is not None
        if self._base64.text_length + len(text) > self.data_limit:
            raise BodyTooLarge(f"the tarball is larger than {self.data_limit * 3 // 4 // (1024 * 1024)} MiB")
        return self._base64.decode(text)

    # --- the document, through ijson ---

    def _give(self, text: bytes) -> None:
        # In pieces: one long run of numbers (`[1,1,1,...]`) must not become one long parse.
        for start in range(0, len(text), _FLUSH_BYTES):
            self._give_piece(text[start:start + _FLUSH_BYTES])

    def _give_piece(self, text: bytes) -> None:
        if not text:
            return
        self._document_size += len(text)
        if self._document_size > self.document_limit:
            raise BodyTooLarge(f"the JSON document (without the tarball) is larger than "
                               f"{self.document_limit // (1024 * 1024)} MiB")
        self._pending.append(text)
        self._pending_size += len(text)
        if self._head_text is not None:
            self._head_size += len(text)
            self._head_text.append(text)
            if self._head_size > MAX_HEAD_BYTES:
                self._head_text = None
        if self._pending_size >= _FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        text = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        try:
            self._parser.send(text)
            self._builder.send(text)
        except ijson.JSONError:
            raise BadBody("the request body is not valid JSON") from None
        if self._events:
            self._values += len(self._events)
            if self._values > MAX_DOCUMENT_VALUES:
                raise BodyTooLarge(f"the JSON document has more than {MAX_DOCUMENT_VALUES} values")
            self._last_event = self._events[-1]
            del self._events[:]
        if len(text) >= _FLUSH_BYTES:
            # A big document is parsed in a worker thread: let the event loop's thread run between pieces.
            time.sleep(0)

    def _is_attachment_data(self) -> bool:
        """Is the string that starts here the value at ``_attachments.<file>.data``? (If a document
        nested otherwise slips through, the marker is not where the tarball must be, and the
        publish is refused at the end.)"""
        if self._depth != 3:
            return False
        self._flush()
        event = self._last_event
        return (event is not None and event[1] == "map_key" and event[2] == "data"
                and isinstance(event[0], str) and event[0].startswith(ATTACHMENTS + "."))

    def _begin_attachment(self) -> None:
        if self._base64 is not None:
            raise BadBody("a publish carries exactly one tarball in _attachments")
        self._base64 = _Base64Pieces()
        self._diverting = True
        self.attachment_started = True
        assert self._last_event is not None
        self.attachment_name = self._last_event[0][len(ATTACHMENTS) + 1:]
        if self._head_text is not None:
            try:
                self._head = json.loads(b"".join(self._head_text) + json.dumps(self.marker).encode() + b"}}}")
            except (ValueError, RecursionError):
                self._head = None
            self._head_text = None
