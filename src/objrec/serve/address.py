"""Where a server listens and is reached: its socket (bound before the model loads, so that a busy
port is said at once), its URL and those other devices on its network open (found without the
network), and the wait until it answers."""

from __future__ import annotations

import errno
import ipaddress
import logging
import logging.config
import socket
import time
import urllib.request
from collections.abc import Callable
from contextlib import suppress

from objrec.errors import ObjrecError, UsageRefused

log = logging.getLogger(__name__)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: any free port), or one clear sentence why not
    (a port in use, an address no interface of this machine has).
    ``::`` takes IPv4 connections too, as on Linux by default, wherever the system lets it: the
    addresses printed for it (:func:`urls_to_open`) include IPv4 ones."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if host == "::" and hasattr(socket, "IPV6_V6ONLY"):
        with suppress(OSError):  # a system without IPv4 on IPv6 sockets keeps IPv6 only
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ObjrecError(
                f"port {port} on {host} is already in use: choose another with `port` "
                "(0 picks a free one)"
            ) from exc
        if exc.errno == errno.EADDRNOTAVAIL:  # the OS's words: "Cannot assign requested address"
            raise UsageRefused(
                f"no network interface of this machine has the address {host}: give `host` one "
                "it has (127.0.0.1: this machine only; 0.0.0.0: every one it has)"
            ) from exc
        if isinstance(exc, socket.gaierror):  # a name no resolver knows: 'not a host'
            raise UsageRefused(
                f"`host` {host} names no address ({exc.strerror or exc}): give an address or a "
                "name of this machine (127.0.0.1: this machine only; 0.0.0.0: every one it has)"
            ) from exc
        raise ObjrecError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


WILDCARD_HOSTS = ("0.0.0.0", "::", "")
"""Hosts that bind every address of the machine: no browser opens a URL with one of them."""


def urls_to_open(host: str, port: int) -> tuple[str, list[str]]:
    """Where people open a server bound to ``host``:``port``: its URL, and the URLs for other
    devices on this machine's network. For a wildcard host (:data:`WILDCARD_HOSTS`), whose own URL
    a phone cannot open, the first is ``localhost`` (this machine) and the others its network
    addresses (:func:`network_addresses`); for any other host, its own URL and none."""
    if host not in WILDCARD_HOSTS:
        return url_of(host, port), []
    addresses = network_addresses(ipv6=host == "::")
    return url_of("localhost", port), [url_of(a, port) for a in addresses]


def network_addresses(ipv6: bool = False) -> list[str]:
    """This machine's addresses that other devices on its network may open (IPv4, and IPv6 with
    ``ipv6``), found without the network: the one its route to a private address leaves from
    (:func:`routed_address`), then those its host name resolves to; never a loopback,
    link-local or unspecified one. Empty when the machine has none."""
    families = (socket.AF_INET, socket.AF_INET6) if ipv6 else (socket.AF_INET,)
    found = [a for f in families for a in (*routed_address(f), *host_addresses(f))]
    return [a for a in dict.fromkeys(found) if reachable_from_elsewhere(a)]


PRIVATE_TARGETS = {socket.AF_INET: ("10.254.254.254", 9), socket.AF_INET6: ("fd00::1", 9)}
"""Addresses in private ranges (RFC 1918, RFC 4193) whose route shows the machine's network one."""


def routed_address(family: socket.AddressFamily) -> list[str]:
    """The address this machine would send from to a private address: a UDP socket's connect
    only chooses the route, and sends nothing. Empty without a route (no network)."""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(PRIVATE_TARGETS[family])
            return [str(probe.getsockname()[0])]
    except OSError:
        return []


def host_addresses(family: socket.AddressFamily) -> list[str]:
    """The addresses this machine's host name resolves to (from /etc/hosts or the local resolver;
    empty when it resolves to none)."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, family, socket.SOCK_STREAM)
    except OSError:  # socket.gaierror: the name resolves to nothing
        return []
    return [str(info[4][0]) for info in infos]


def reachable_from_elsewhere(address: str) -> bool:
    """Whether another device could open ``address``: not loopback, link-local (it would need
    the interface's name), unspecified or multicast."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def wait_until_up(url: str, on_ready: Callable[[str], None], timeout: float = 300.0) -> None:
    """Call ``on_ready(url)`` once ``url``/health answers (a wildcard host is asked on loopback)."""
    probe = url + "health"
    for wildcard, loopback in (("0.0.0.0", "127.0.0.1"), ("[::]", "[::1]"), ("", "127.0.0.1")):
        probe = probe.replace(f"//{wildcard}:", f"//{loopback}:")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(probe, timeout=2):
                on_ready(url)
                return
        except OSError:
            time.sleep(0.1)
    log.warning("the server did not answer at %s within %.0f s", probe, timeout)
