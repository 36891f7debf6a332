"""One webhook attempt: POST a JSON body to an http or https URL, never following a redirect.

The URL is a secret (it usually carries a token), so no message here contains it, its host or its
credentials: errors name the environment variable it came from. Any other scheme (file, ftp, data, ...)
is refused before any I/O, and a 3xx answer is a failed delivery, because following it would resend the
alert somewhere the operator never configured (urllib would also turn the POST into an empty GET).
"""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.parse
import urllib.request

ALLOWED_SCHEMES = ("http", "https")
_PLAIN_SCHEME = re.compile(r"[a-z][a-z0-9+-]{0,15}")  # a scheme name, not a host read as one


class DeliveryRefused(Exception):
    """A delivery that retrying cannot fix (here: the URL is not allowed, or the endpoint redirected)."""


class DeliveryFailed(Exception):
    """A failed attempt that a retry may fix; timed_out says the attempt used its whole time limit."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: the 3xx then reaches HTTPDefaultErrorHandler and raises HTTPError."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201 - urllib's hook
        return None


def _opener() -> urllib.request.OpenerDirector:
    """An opener that speaks http and https only (no file, ftp or data handler) and follows no redirect."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),  # honours HTTPS_PROXY / NO_PROXY, as urlopen did
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        _RefuseRedirects(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def check_url(url: str, variable: str) -> urllib.parse.SplitResult:
    """The parsed URL if it is http(s) with a host; else DeliveryRefused naming the variable and scheme."""
    where = f"webhook (${variable})"
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise DeliveryRefused(f"{where}: the URL contains whitespace or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise DeliveryRefused(f"{where}: the URL is not valid") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        if not scheme:
            named = "a URL without a scheme"
        elif _PLAIN_SCHEME.fullmatch(scheme):
            named = f"scheme {scheme!r}"
        else:  # "hooks.example.com:8443/..." parses as scheme "hooks.example.com": that is the host, a secret
            named = "an unrecognised scheme"
        raise DeliveryRefused(f"{where}: {named} is not allowed; only http and https URLs are")
    if not parts.hostname:
        raise DeliveryRefused(f"{where}: the {scheme} URL has no host")
    return parts


def _redact(text: str, url: str, parts: urllib.parse.SplitResult, variable: str) -> str:
    """text with the URL and its pieces (host, credentials) replaced by the variable's name."""
    secrets = [url, parts.netloc, parts.hostname or "", parts.username or "", parts.password or ""]
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, f"${variable}")
    return text


def post_json(url: str, body: bytes, *, timeout: float, variable: str) -> None:
    """POST body once with a timeout; returns on a 2xx answer, raises DeliveryRefused or DeliveryFailed."""
    parts = check_url(url, variable)
    where = f"webhook (${variable})"
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "shopctl"},
    )
    try:
        with _opener().open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        error.close()
        if 300 <= error.code < 400:
            raise DeliveryRefused(f"{where}: HTTP {error.code}: redirects are not followed") from None
        raise DeliveryFailed(f"{where}: HTTP {error.code}") from None
    except urllib.error.URLError as error:
        reason = error.reason
        timed_out = isinstance(reason, TimeoutError)
        text = f"timed out after {timeout:.3g}s" if timed_out else f"{type(reason).__name__}: {reason}"
        raise DeliveryFailed(f"{where}: {_redact(text, url, parts, variable)}", timed_out=timed_out) from None
    except TimeoutError:  # the answer did not come in time (raised while reading it)
        raise DeliveryFailed(f"{where}: timed out after {timeout:.3g}s", timed_out=True) from None
    except (OSError, http.client.HTTPException) as error:
        # The exception's text may quote the URL, so only its type and (for OSError) its errno are kept.
        errno = getattr(error, "errno", None)
        text = type(error).__name__ + (f" (errno {errno})" if errno else "")
        raise DeliveryFailed(f"{where}: {text}") from None
    if not 200 <= status < 300:
        raise DeliveryFailed(f"{where}: HTTP {status}")
