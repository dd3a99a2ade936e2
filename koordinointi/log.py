"""Logging and error reports without personal data: JSON lines, masked identity codes, no bodies."""

import datetime
import json
import logging
import re

from django.views.debug import SafeExceptionReporterFilter

# A Finnish personal identity code anywhere in a text (cases/identity_code.py has the exact rule).
IDENTITY_CODE = re.compile(r"(?<![0-9A-Za-z])\d{6}[-+A-FU-Y]\d{3}[0-9A-Y](?![0-9A-Za-z])", re.I)
MASK = "***********"


def mask_identity_codes(text: str) -> str:
    return IDENTITY_CODE.sub(MASK, text)


class PersonalDataFilter(logging.Filter):
    """Masks identity codes in a record's message and exception text, for every handler after it.

    A safety net only: code must not log personal data in the first place.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_identity_codes(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_identity_codes(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line. Of a request it keeps the method, the path (never the query
    string) and the request id; never the body, headers or parameters."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = getattr(record, "request", None)
        if request is not None:
            entry["method"] = getattr(request, "method", None)
            entry["path"] = getattr(request, "path", None)
            recorder = getattr(request, "access_recorder", None)
            if recorder is not None:
                entry["request_id"] = recorder.request_id
        status_code = getattr(record, "status_code", None)
        if status_code is not None:
            entry["status"] = status_code
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class PersonalDataExceptionReporterFilter(SafeExceptionReporterFilter):
    """Error reports (the admins' e-mail, the 500 page) show no POST parameters and no local
    variables of any frame, whatever DEBUG says: API bodies are JSON, where Django's
    `sensitive_post_parameters` cannot reach, and any variable may hold a family's data."""

    def is_active(self, request) -> bool:
        return True

    def get_post_parameters(self, request):
        try:
            keys = list(request.POST) if request is not None else []
        except Exception:  # a body already read, or too large: nothing to show either way
            keys = []
        return {key: self.cleansed_substitute for key in keys}

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]
