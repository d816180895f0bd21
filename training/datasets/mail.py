"""Turn one raw e-mail into the plain text a text classifier sees: its subject, a blank line, its body.

Headers other than Subject are dropped (they identify the corpus more than the message). Of the body,
the text/plain parts are kept, or, for mails that only have HTML, the text/html parts with their tags
crudely stripped (so are plain parts that are really HTML). Transfer encodings are undone and
charsets decoded, with unknown or wrong charsets falling back to Latin-1 or replacement characters
rather than failing.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from itertools import islice
from typing import Final

_FALLBACK_CHARSET: Final = "latin-1"
_HIDDEN_HTML = re.compile(r"<(script|style|head)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_BLOCK_TAG = re.compile(r"<\s*/?\s*(br|p|div|tr|li|h[1-6]|table|blockquote)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_MARKUP_TAG = re.compile(r"<\s*/?\s*(html|body|head|table|tr|td|font|div|p|br|a|img|center|b)\b", re.IGNORECASE)
#: A text/plain part with this many tags is HTML sent with the wrong content type (common in spam).
_MARKUP_TAGS_IN_PLAIN = 5
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\xa0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def mail_to_text(raw: str) -> str:
    """Return ``subject + "\\n\\n" + body`` of a raw RFC 822 message, whitespace tidied."""
    message = email.message_from_string(raw, policy=email.policy.compat32)
    subject = decode_header_value(message.get("Subject"))
    plain: list[str] = []
    markup: list[str] = []
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain":
            text = part_text(part)
            plain.append(strip_html(text) if looks_like_html(text) else text)
        elif content_type == "text/html":
            markup.append(part_text(part))
    body = "\n\n".join(plain) if plain else "\n\n".join(strip_html(text) for text in markup)
    return tidy_whitespace(f"{subject}\n\n{body}")


def decode_header_value(value: object) -> str:
    """Decode an RFC 2047 header (``=?utf-8?q?...?=``) to text; undecodable parts stay as they are."""
    if value is None:
        return ""
    text = str(value)
    try:
        return str(make_header(decode_header(text)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return text


def part_text(part: Message) -> str:
    """The text of one non-multipart part, transfer encoding undone and charset decoded."""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        # Already text: the corpus was stored as UTF-8, so decoding again would mangle it.
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    charset = part.get_content_charset() or _FALLBACK_CHARSET
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode(_FALLBACK_CHARSET)


def looks_like_html(text: str) -> bool:
    """Whether a text is HTML markup, judged by its tags."""
    tags = islice(_MARKUP_TAG.finditer(text), _MARKUP_TAGS_IN_PLAIN)
    return sum(1 for _ in tags) >= _MARKUP_TAGS_IN_PLAIN


def strip_html(markup: str) -> str:
    """Crude HTML to text: drop scripts, styles and comments, break lines at block tags, drop tags."""
    text = _HIDDEN_HTML.sub(" ", markup)
    text = _BLOCK_TAG.sub("\n", text)
    return html.unescape(_TAG.sub(" ", text))


def tidy_whitespace(text: str) -> str:
    """Drop control characters, collapse runs of spaces and blank lines, strip line ends."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
