"""``serve``'s settings checked before anything heavy is imported (FastAPI, PyTorch: seconds), so
that a bad option is said at once: the server processes, the upload limits, the CORS origins, the
host names the Host check allows, a reverse proxy's prefix."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from urllib.parse import urlsplit

from objrec.errors import ObjrecError
from objrec.images import MAX_PIXELS_VARIABLE, pixel_limit


def check_workers(workers: int) -> None:
    """``workers``: at least one server process."""
    if workers < 1:
        raise ObjrecError("`workers` must be at least 1")


def check_upload_limit(max_upload_bytes: int) -> None:
    if max_upload_bytes < 1:
        raise ObjrecError(f"`max_upload_bytes` must be at least 1 (it is {max_upload_bytes})")


def upload_limit_bytes(max_upload_mib: float) -> int:
    """An upload limit given in MiB (``max_upload_mib``, as the CLI takes it) in bytes; refused
    in one sentence when it is not a positive size, or is one that rounds to no byte at all (a
    typo for a size in MiB, most likely)."""
    if not (math.isfinite(max_upload_mib) and max_upload_mib > 0):
        raise ObjrecError(
            f"`max_upload_mib` must be a positive size in MiB, not {max_upload_mib:g}"
        )
    max_upload_bytes = round(max_upload_mib * 1024 * 1024)
    if max_upload_bytes < 1:
        raise ObjrecError(
            f"`max_upload_mib` {max_upload_mib} is less than one byte "
            f"({max_upload_mib * 1024 * 1024:.2g} bytes): the size is in MiB (0.5 is 512 KiB)"
        )
    return max_upload_bytes


def upload_pixel_limit(max_pixels: int | None) -> int:
    """The most pixels the server decodes from one upload: ``max_pixels``, or objrec's own limit
    (``images.pixel_limit``) when None: RGB pixels' worth of memory, an image of a kind that
    takes more a pixel to decode allowed fewer (``images.bytes_to_decode``). A lower one bounds
    the server's memory (an RGB image takes 4 bytes a pixel to decode,
    ``serve.predict.ANSWERING_AT_ONCE`` at once); one under a pixel, or higher than
    objrec reads anywhere (Pillow's guard is set from objrec's limit), is refused."""
    limit = pixel_limit()  # a bad OBJREC_MAX_PIXELS refused here, in one sentence
    if max_pixels is None:
        return limit
    if max_pixels < 1:
        raise ObjrecError(f"`max_pixels` must be a positive number of pixels, not {max_pixels}")
    if max_pixels > limit:
        raise ObjrecError(
            f"`max_pixels` {max_pixels:,} is over objrec's own limit of {limit:,} pixels, the "
            f"most it reads from an image ({MAX_PIXELS_VARIABLE} raises that limit, "
            "docs/folders.md)"
        )
    return max_pixels


DEFAULT_PORTS = {"http": 80, "https": 443}


ANY_ORIGIN = "*"


def cors_origin(origin: str) -> str:
    """``origin`` as a browser sends it in its Origin header, which CORS compares exactly:
    ``scheme://host[:port]``, lower case, without the scheme's default port
    (``HTTPS://Shop.example:443`` -> ``https://shop.example``), its host in ASCII
    (:func:`ascii_host`); ``*`` as it is. Anything else (a path, even a lone ``/``, or a query;
    no scheme; a scheme other than http or https) is refused in one sentence, naming the origin
    to give where there is one."""
    if origin == ANY_ORIGIN:
        return origin
    parts = urlsplit(origin.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    scheme, host = parts.scheme.lower(), ascii_host(parts.hostname)
    if scheme not in DEFAULT_PORTS or not host or port == -1 or parts.username is not None:
        raise ObjrecError(
            f"`cors_origin` {origin} is not a web page's origin: give scheme://host[:port], as "
            "https://shop.example or http://localhost:3000 (or * for any website)"
        )
    host = f"[{host}]" if ":" in host else host
    given = f"{scheme}://{host}" + (f":{port}" if port not in (None, DEFAULT_PORTS[scheme]) else "")
    if parts.path or parts.query or parts.fragment or origin.endswith(("?", "#")):
        raise ObjrecError(
            f"`cors_origin` {origin} is more than an origin, which has no path: give {given}, as "
            "a browser sends it (the page's scheme, host and port alone)"
        )
    return given


def ascii_host(host: str | None) -> str | None:
    """``host`` as a browser writes it in its Origin header: a name of other letters than
    ASCII's in its IDNA form (``café.example`` -> ``xn--caf-dma.example``), which CORS compares
    exactly, so that the name as the website's owner types it matches; None for no host, or one
    IDNA cannot write (an empty or over-long label)."""
    try:
        return host.encode("idna").decode("ascii") if host else None
    except UnicodeError:
        return None


def allowed_origins(origins: Sequence[str]) -> list[str]:
    """Each of ``origins`` as :func:`cors_origin` gives it, once each, in order; ``*`` alone
    when it is one of them (it allows every other)."""
    allowed = list(dict.fromkeys(cors_origin(o) for o in origins))
    return [ANY_ORIGIN] if ANY_ORIGIN in allowed else allowed


ANY_HOST = "*"


def host_of(header: str) -> str | None:
    """The host a Host header names (``Photos.LAN:8000`` -> ``photos.lan``, ``[::1]:8000`` ->
    ``::1``), lower case and without a final dot; None for a header that names none (a user
    part, a bad port, a path)."""
    try:
        parts = urlsplit(f"//{header}")
        _ = parts.port  # ValueError for a port that is no number
    except ValueError:
        return None
    if parts.username is not None or parts.path or parts.query or not parts.hostname:
        return None
    return parts.hostname.rstrip(".")


def is_address(host: str) -> bool:
    """Whether ``host`` is an IP address (v4, or v6 as a Host header gives it without brackets)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def allowed_host(name: str) -> str:
    """``name`` as the Host check compares it (``serve.guards.host_allowed``): a host name, lower
    case, without a final dot; ``*.`` and a name; ``*``. Anything else (a URL, a port, a path) is
    refused in one sentence."""
    given = name.strip().lower().rstrip(".")
    if given == ANY_HOST:
        return given
    host = host_of(given.removeprefix("*."))
    if host is None or host != given.removeprefix("*.") or "*" in host:
        raise ObjrecError(
            f"`allowed_host` {name} is not a host name: give the name people type in their "
            "browser's address bar, without scheme, port or path (objrec.office.lan), "
            "*.office.lan for every name under office.lan, or * for any"
        )
    return given


def proxy_prefix(root_path: str) -> str:
    """``serve``'s ``root_path`` checked: empty (none), or a path that starts with ``/``, its
    trailing ``/`` dropped (``/objrec/`` is ``/objrec``), as uvicorn's own ``root_path`` is."""
    prefix = root_path.rstrip("/")
    if root_path and (not root_path.startswith("/") or any(c in prefix for c in "?# ")):
        raise ObjrecError(
            f"`root_path` {root_path!r} is not a path prefix: give the path the reverse proxy "
            "serves this server under, as /objrec"
        )
    return prefix
