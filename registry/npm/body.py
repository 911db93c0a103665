"""Reading a PUT body from npm as it arrives, in bounded memory.

``npm publish`` sends one JSON document with the tarball inside it as a base64 string
(``_attachments.<file>.data``): up to ~134 MiB of text for a 100 MiB tarball. Holding that, its parse
and its decoding at once costs several times the body per request. Here the document is parsed
incrementally by ijson, and the one string at ``_attachments.<file>.data`` is diverted from the
parse: its base64 is decoded piece by piece and handed on (to the content store), while ijson is
given a marker string in its place. The rest of the document (the packument, the readme) is built
as usual and is bounded by ``document_limit``.

Finding that string needs to know where each JSON string starts and ends (a few ``find`` calls per
piece, never a loop over characters) and where in the document it is, which ijson tells: before an
object value that is a string, everything up to it is given to ijson, whose last event then names
its key and the path of objects around it.
"""

from __future__ import annotations

import binascii
import json
import re
import secrets
from collections.abc import Iterator

import ijson
from ijson.common import ObjectBuilder

MAX_DEPTH = 64
ATTACHMENTS = "_attachments"
_QUOTE_OR_ESCAPE = re.compile(rb'["\\]')
# ijson is handed the document in pieces of about this size (it keeps partial tokens between pieces).
_FLUSH_BYTES = 64 * 1024
_WHITESPACE = b" \t\r\n"


class BadBody(ValueError):
    """The body is refused; the message is safe to show."""


class BodyTooLarge(BadBody):
    pass


class _Frame:
    __slots__ = ("is_map", "key")

    def __init__(self, is_map: bool) -> None:
        self.is_map = is_map
        self.key: object = None


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
        self._parser = ijson.basic_parse_coro(self._events, use_float=True)
        self._builder = ObjectBuilder()
        self._frames: list[_Frame] = []
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._document_size = 0
        self._last_significant = b""  # the last byte outside strings that is not whitespace
        self._in_string = False
        self._escape = False  # inside a string, the previous byte was a backslash
        self._diverting = False
        self._base64: _Base64Pieces | None = None
        self._rest = b""  # bytes after the point where feed stopped early
        self.attachment_started = False
        self.attachment_name: object = None
        self.finished = False

    # --- what the caller reads ---

    @property
    def attachment_text_length(self) -> int:
        return self._base64.text_length if self._base64 else 0

    @property
    def document_size(self) -> int:
        """Bytes of JSON given to the parser so far (everything but the attachment's data)."""
        return self._document_size

    def document_so_far(self) -> object:
        """The document as far as it was parsed (complete objects and the ones still open)."""
        return getattr(self._builder, "value", None)

    def document(self) -> object:
        if not self.finished:
            raise BadBody("the request body ended before the JSON document did")
        return self._builder.value

    # --- feeding ---

    def feed(self, data: bytes) -> bytes:
        """Consume ``data`` (b"" to go on after the early stop); return attachment bytes decoded from it."""
        if self._rest:
            data, self._rest = self._rest + data, b""
        decoded = b"".join(self._scan(data))
        self._flush()
        return decoded

    def close(self) -> None:
        """The body ended: the document must be complete."""
        if self._in_string or self._diverting or self._rest:
            raise BadBody("the request body ended inside a JSON string")
        try:
            self._parser.close()
        except ijson.JSONError:
            raise BadBody("the request body is not valid JSON") from None
        self._take_events()
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
                    self._give(data[position:])
                    self._remember_significant(data[position:])
                    return
                self._give(data[position:quote])
                self._remember_significant(data[position:quote])
                if self._last_significant == b":" and self._is_attachment_data():
                    self._begin_attachment()
                    self._rest = data[quote + 1:]
                    return
                self._give(b'"')
                self._in_string = True
                position = quote + 1

    def _remember_significant(self, text: bytes) -> None:
        stripped = text.rstrip(_WHITESPACE)
        if stripped:
            self._last_significant = stripped[-1:]

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
            raise BodyTooLarge("the tarball is too large")
        return self._base64.decode(text)

    # --- the document, through ijson ---

    def _give(self, text: bytes) -> None:
        if not text:
            return
        self._document_size += len(text)
        if self._document_size > self.document_limit:
            raise BodyTooLarge("the JSON document (without the tarball) is too large")
        self._pending.append(text)
        self._pending_size += len(text)
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
        except ijson.JSONError:
            raise BadBody("the request body is not valid JSON") from None
        self._take_events()

    def _take_events(self) -> None:
        for event, value in self._events:
            if event in ("start_map", "start_array"):
                if len(self._frames) >= MAX_DEPTH:
                    raise BadBody(f"the JSON document is nested more than {MAX_DEPTH} levels deep")
                self._frames.append(_Frame(event == "start_map"))
            elif event in ("end_map", "end_array"):
                self._frames.pop()
            elif event == "map_key":
                self._frames[-1].key = value
            self._builder.event(event, value)
        del self._events[:]

    def _is_attachment_data(self) -> bool:
        """Is the string that starts here the value at ``_attachments.<file>.data``?"""
        self._flush()
        frames = self._frames
        return (len(frames) == 3 and all(frame.is_map for frame in frames)
                and frames[0].key == ATTACHMENTS and frames[2].key == "data")

    def _begin_attachment(self) -> None:
        if self._base64 is not None:
            raise BadBody("a publish carries exactly one tarball in _attachments")
        self._base64 = _Base64Pieces()
        self._diverting = True
        self.attachment_started = True
        self.attachment_name = self._frames[1].key
