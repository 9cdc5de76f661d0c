"""What is said and refused before a request reaches a route: the security headers on every answer
(no scripts, no framing, no sniffing, no referrer; HSTS behind TLS) and a post too large or of
unknown length, refused before its body is read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.responses import HTMLResponse, Response

from portal import audit
from safetynet.rules import PortalSettings

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # a worklist search puts a name in the URL: it never leaves the server's origin (and forms keep
    # a real Origin header, which no-referrer turns into `null`)
    "Referrer-Policy": "same-origin",
}
HEADER_PAIRS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class Guard:
    """Pure ASGI middleware (Starlette's `@app.middleware` costs a task per request): a post larger
    than `limit(path)`, or of unknown length (chunked), is refused before its body is read; every answer
    says no scripts, no framing, no sniffing, no referrer."""

    def __init__(
        self, app, limit: Callable[[str], int], refuse, headers: list[tuple[bytes, bytes]] = HEADER_PAIRS
    ) -> None:
        self.app, self.limit, self.refuse, self.headers = app, limit, refuse, headers

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        if scope["method"] == "POST":
            length = dict(scope["headers"]).get(b"content-length", b"").decode("latin-1")
            if not (length.isdigit() and int(length) <= self.limit(scope["path"])):
                return await self.refuse(scope, length)(scope, receive, send_with_headers)
        await self.app(scope, receive, send_with_headers)


def post_limit(settings: PortalSettings) -> Callable[[str], int]:
    def limit(path: str) -> int:
        """A post's largest body: an application's carries its file and the signed authorisation."""
        signed = settings.authorisation_max_bytes if path == "/applications" else 0
        return settings.upload_max_bytes + signed + 65536

    return limit


def refusal(home: Path, settings: PortalSettings) -> Callable[[dict, str], Response]:
    """The answer to a post refused by its size (413) or unknown length (411), logged."""

    def refused_post(scope, length: str) -> Response:
        status = 413 if length.isdigit() else 411
        client = scope.get("client") or ("unknown", 0)
        audit.write(
            home,
            "refused",
            bytes=int(length) if length.isdigit() else None,
            client_address=client[0],
            result="refused",
            detail=f"{scope['path']}: 请求过大或大小未知（{status}）",
        )
        return HTMLResponse(
            "<!doctype html><meta charset='utf-8'><p>文件超过 "
            f"{settings.upload_max_bytes // 1_000_000} MB 或大小未知，已拒绝。<a href='/'>返回</a></p>",
            status_code=status,
        )

    return refused_post


def hsts(settings: PortalSettings) -> list[tuple[bytes, bytes]]:
    """Behind a TLS proxy, the browser is told to come by HTTPS only from now on."""
    return [(b"strict-transport-security", f"max-age={settings.hsts_days * 86400}".encode())]
