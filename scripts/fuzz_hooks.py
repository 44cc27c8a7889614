"""Schemathesis hooks for scripts/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

Negative generation can put control characters into a header value or separators into a header
name. Such a request is not HTTP (RFC 9110 section 5): the server's HTTP parser refuses it with
a bare 400 before any route, and so before any contract could answer in its own format. Those
cases test the parser, not Doorway's contracts, so they are not sent.
"""

import re

import schemathesis

# RFC 9110 token characters for names; visible ASCII, obs-text, space and tab for values.
_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VALUE = re.compile(r"^[\t \x21-\x7e\x80-\xff]*$")


@schemathesis.hook
def filter_headers(context, headers):
    if not headers:
        return True
    return all(
        _NAME.match(str(name)) and (value is None or _VALUE.match(str(value)))
        for name, value in headers.items()
    )
