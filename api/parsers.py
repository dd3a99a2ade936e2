"""The API's one parser: JSON in UTF-8, with every way a body can fail to decode a 400."""

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, but always UTF-8 (RFC 8259: a charset parameter cannot pick an unknown
    codec), and a body that is not UTF-8, not JSON, or nested deeper than the decoder can follow
    is a 400 rather than a server error.

    The messages never quote the body: it may hold an identity code.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError(_("The request body is not valid UTF-8.")) from None
        try:
            return json.loads(text)  # NaN and Infinity refused (strict)
        except RecursionError:
            raise ParseError(_("The JSON in the request body is nested too deeply.")) from None
        except ValueError as exc:
            # json's messages give a position ("line 1 column 5 (char 4)"), never the text.
            raise ParseError(
                _("Malformed JSON in the request body: %(error)s") % {"error": exc}
            ) from None
