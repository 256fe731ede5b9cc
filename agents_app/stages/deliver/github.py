"""GitHub's REST API, for the one thing TFactory does there: keep one comment with the
report on a pull request, found by a hidden marker and edited on the next run.

One HTTP client (httpx2) with timeouts. Every failure becomes one sentence
(GitHubError): 401 the token was rejected, 403/404 no access or no such pull request,
422 GitHub's own validation message; none of these is tried again. Server errors (5xx),
timeouts and dropped connections are tried again a couple of times with a growing wait.
The token lives in the client's Authorization header and nowhere else: it is scrubbed
from every message, and the next-page links GitHub sends are followed only on the API's
own host.

Without a token, a `gh` that is logged in makes the same calls (`gh api`) with its own
login; TFactory never sees that token either.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx2
from django.conf import settings

MAX_PAGES = 50  # 5,000 comments: far beyond any pull request TFactory comments on
# GitHub refuses comment bodies over 65,536 characters
MAX_BODY = 65_000


class GitHubError(Exception):
    """A GitHub call failed; the message is one sentence a person can act on."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False):
        super().__init__(message)
        self.status = status
        self.transient = transient


def marker(project_id: str, spec_id: str) -> str:
    """The hidden line that tells TFactory's comment for this spec from any other."""
    return f"<!-- tfactory:{project_id}/{spec_id} -->"


class Api(Protocol):
    kind: str

    def open_pulls(self, slug: str, branch: str) -> list[dict[str, Any]]: ...

    def comments(self, slug: str, number: int) -> Iterator[dict[str, Any]]: ...

    def create_comment(self, slug: str, number: int, body: str) -> dict[str, Any]: ...

    def update_comment(
        self, slug: str, number: int, comment_id: int, body: str
    ) -> dict[str, Any]: ...

    def close(self) -> None: ...


def _sentence(
    status: int, message: str, slug: str, number: int | None, who: str, headers: Any = None
) -> GitHubError:
    """The one sentence for an HTTP error answer."""
    message = message or "no message"
    if status == 401:
        return GitHubError(f"GitHub rejected {who} (401: {message})", status=status)
    remaining = (headers or {}).get("x-ratelimit-remaining")
    if status == 403 and (remaining == "0" or "rate limit" in message.lower()):
        return GitHubError(
            f"GitHub's rate limit for {who} is used up (403: {message}); try again later",
            status=status,
        )
    if status in (403, 404):
        what = f"{slug} or PR #{number} not found" if number else f"{slug} or it does not exist"
        return GitHubError(
            f"no access to {what} ({status}: {message}); {who} needs read and write access "
            "to the repository's pull requests",
            status=status,
        )
    if status == 422:
        return GitHubError(f"GitHub refused the request (422): {message}", status=status)
    if status == 429:
        return GitHubError(f"GitHub asks to slow down (429: {message})", status=status)
    if status >= 500:
        return GitHubError(f"GitHub answered {status} ({message})", status=status, transient=True)
    return GitHubError(f"GitHub answered {status} ({message})", status=status)


def _clip(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _message_of(data: Any, fallback: str) -> str:
    """GitHub's error body: {"message": ..., "errors": [{"message"|"code", "field"}...]}."""
    if not isinstance(data, dict):
        return fallback
    parts = [str(data.get("message") or fallback)]
    for err in data.get("errors") or []:
        if isinstance(err, dict):
            text = err.get("message") or " ".join(
                str(err[k]) for k in ("field", "code") if err.get(k)
            )
            if text:
                parts.append(str(text))
        elif isinstance(err, str):
            parts.append(err)
    return _clip(": ".join(parts))


class RestClient:
    """The REST API with a token, on github.com or GitHub Enterprise (`api_url`)."""

    kind = "token"

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        token_env: str = "GITHUB_TOKEN",  # noqa: S107 - the variable's name, not a token
        timeout: float = 20,
        retries: int = 2,
        backoff: float = 1.0,
    ):
        self.base = api_url.rstrip("/")
        self.who = f"the token in ${token_env}"
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self._token = token
        self._origin = _origin(self.base)
        self._http = httpx2.Client(
            base_url=self.base,
            timeout=timeout,
            # httpx drops the Authorization header on a redirect to another host
            follow_redirects=True,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "tfactory",
                "Authorization": f"Bearer {token}",
            },
        )

    def close(self) -> None:
        self._http.close()

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "[redacted]") if self._token else text

    def _request(
        self,
        method: str,
        url: str,
        *,
        slug: str,
        number: int | None = None,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        retry: bool = True,
    ) -> httpx2.Response:
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                resp = self._http.request(method, url, params=params, json=body)
            except httpx2.TimeoutException:
                error = GitHubError(
                    f"GitHub ({self.base}) did not answer within {self.timeout:g}s",
                    transient=True,
                )
            except httpx2.TransportError as exc:
                error = GitHubError(
                    f"cannot reach GitHub at {self.base}: {self._scrub(_clip(str(exc)))}",
                    transient=True,
                )
            else:
                if resp.status_code < 400:
                    return resp
                try:
                    data = resp.json()
                except ValueError:
                    data = None
                message = self._scrub(_message_of(data, resp.reason_phrase))
                error = _sentence(resp.status_code, message, slug, number, self.who, resp.headers)
            if not error.transient or attempt + 1 == attempts:
                if error.transient and attempts > 1:
                    error = GitHubError(
                        f"{error} (tried {attempts} times)", status=error.status, transient=True
                    )
                raise error
            time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _json(self, resp: httpx2.Response, kind: type) -> Any:
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, kind):
            raise GitHubError(
                f"GitHub's answer to {resp.request.method} {resp.request.url.path} is not "
                f"the JSON {kind.__name__} it should be"
            )
        return data

    def open_pulls(self, slug: str, branch: str) -> list[dict[str, Any]]:
        owner = slug.split("/")[0]
        resp = self._request(
            "GET",
            f"/repos/{slug}/pulls",
            slug=slug,
            params={"head": f"{owner}:{branch}", "state": "open", "per_page": 100},
        )
        return self._json(resp, list)

    def comments(self, slug: str, number: int) -> Iterator[dict[str, Any]]:
        url: str = f"/repos/{slug}/issues/{number}/comments"
        params: dict[str, Any] | None = {"per_page": 100}
        for _ in range(MAX_PAGES):
            resp = self._request("GET", url, slug=slug, number=number, params=params)
            yield from self._json(resp, list)
            following = resp.links.get("next", {}).get("url")
            if not following:
                return
            if _origin(following) != self._origin:
                # the token must not travel to another host, whoever wrote the link
                raise GitHubError(
                    f"GitHub's next-page link points away from {self.base}; not followed"
                )
            url, params = following, None
        raise GitHubError(f"PR #{number} of {slug} has more than {MAX_PAGES} pages of comments")

    def create_comment(self, slug: str, number: int, body: str) -> dict[str, Any]:
        # not tried again here: a POST that timed out may have created the comment, so
        # upsert_comment looks for it again before another try
        resp = self._request(
            "POST",
            f"/repos/{slug}/issues/{number}/comments",
            slug=slug,
            number=number,
            body={"body": body},
            retry=False,
        )
        return self._json(resp, dict)

    def update_comment(self, slug: str, number: int, comment_id: int, body: str) -> dict[str, Any]:
        resp = self._request(
            "PATCH",
            f"/repos/{slug}/issues/comments/{int(comment_id)}",
            slug=slug,
            number=number,
            body={"body": body},
        )
        return self._json(resp, dict)


def _origin(url: str) -> tuple[str, str, int | None]:
    u = httpx2.URL(url)
    return (u.scheme, u.host, u.port)


# ---------------------------------------------------------------- gh

# what `gh` needs to find its own login and reach the host; nothing of TFactory's own
_GH_ENV = (
    "PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "XDG_CONFIG_HOME", "XDG_STATE_HOME",
    "XDG_DATA_HOME", "GH_CONFIG_DIR", "GH_TOKEN", "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
)  # fmt: skip
_HTTP_STATUS = re.compile(r"\(HTTP (\d{3})\)")


def _gh_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _GH_ENV}
    env.update(GH_PROMPT_DISABLED="1", NO_COLOR="1", GH_NO_UPDATE_NOTIFIER="1")
    return env


class GhClient:
    """The same calls through a logged-in GitHub CLI (`gh api`)."""

    kind = "gh"

    def __init__(self, gh: str, hostname: str, *, timeout: float = 20):
        self.gh = gh
        self.hostname = hostname
        self.timeout = timeout
        self.who = f"gh's login on {hostname}"

    def close(self) -> None:
        pass

    def _api(
        self,
        method: str,
        path: str,
        *,
        slug: str,
        number: int | None = None,
        body: dict[str, Any] | None = None,
        paginate: bool = False,
    ) -> str:
        args = [self.gh, "api", "--hostname", self.hostname, "--method", method]
        args += ["-H", "Accept: application/vnd.github+json"]
        if paginate:
            # one JSON object per line, whatever the number of pages
            args += ["--paginate", "--jq", ".[] | @json"]
        if body is not None:
            args += ["--input", "-"]
        args.append(path)
        try:
            proc = subprocess.run(
                args,
                input=json.dumps(body).encode() if body is not None else None,
                capture_output=True,
                env=_gh_env(),
                timeout=self.timeout * (MAX_PAGES if paginate else 3),
            )
        except subprocess.TimeoutExpired as exc:
            raise GitHubError(f"gh api {method} {path} did not finish in time") from exc
        if proc.returncode == 0:
            return proc.stdout.decode("utf-8", errors="replace")
        err = proc.stderr.decode("utf-8", errors="replace").strip()
        if m := _HTTP_STATUS.search(err):
            text = _HTTP_STATUS.sub("", err.splitlines()[0]).removeprefix("gh:").strip()
            raise _sentence(int(m.group(1)), _clip(text), slug, number, self.who)
        raise GitHubError(f"gh api {method} {path} failed: {_clip(err or 'no output')}")

    def _load(self, text: str, kind: type) -> Any:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, kind):
            raise GitHubError(f"gh's answer is not the JSON {kind.__name__} it should be")
        return data

    def open_pulls(self, slug: str, branch: str) -> list[dict[str, Any]]:
        owner = slug.split("/")[0]
        head = quote(f"{owner}:{branch}", safe=":")
        out = self._api("GET", f"repos/{slug}/pulls?head={head}&state=open&per_page=100", slug=slug)
        return self._load(out, list)

    def comments(self, slug: str, number: int) -> Iterator[dict[str, Any]]:
        out = self._api(
            "GET",
            f"repos/{slug}/issues/{number}/comments?per_page=100",
            slug=slug,
            number=number,
            paginate=True,
        )
        for line in out.splitlines():
            if line.strip():
                yield self._load(line, dict)

    def create_comment(self, slug: str, number: int, body: str) -> dict[str, Any]:
        out = self._api(
            "POST",
            f"repos/{slug}/issues/{number}/comments",
            slug=slug,
            number=number,
            body={"body": body},
        )
        return self._load(out, dict)

    def update_comment(self, slug: str, number: int, comment_id: int, body: str) -> dict[str, Any]:
        out = self._api(
            "PATCH",
            f"repos/{slug}/issues/comments/{int(comment_id)}",
            slug=slug,
            number=number,
            body={"body": body},
        )
        return self._load(out, dict)


# ---------------------------------------------------------------- choosing and using


def web_host(api_url: str) -> str:
    """github.com for the public API, else the Enterprise server's host."""
    host = urlsplit(api_url).hostname or ""
    return "github.com" if host in ("api.github.com", "github.com") else host


def connect(api_url: str) -> tuple[Api | None, str]:
    """A client for `api_url` and what it authenticates with; or None and why not.

    The token comes from the environment variable TFACTORY_GITHUB_TOKEN_ENV names;
    without one, a `gh` on PATH that is logged in to the host."""
    env_name = settings.TFACTORY_GITHUB_TOKEN_ENV
    token = os.environ.get(env_name, "").strip()
    if token:
        client = RestClient(
            api_url,
            token,
            token_env=env_name,
            timeout=settings.TFACTORY_GITHUB_TIMEOUT_S,
            retries=settings.TFACTORY_GITHUB_RETRIES,
            backoff=settings.TFACTORY_GITHUB_BACKOFF_S,
        )
        return client, f"the token in ${env_name}"
    if not settings.TFACTORY_GITHUB_GH:
        return None, f"no token in ${env_name} (and the gh fallback is off)"
    gh = shutil.which("gh", path=os.environ.get("PATH"))
    if gh is None:
        return None, f"no token in ${env_name}, and no gh command to fall back on"
    host = web_host(api_url)
    try:
        status = subprocess.run(
            [gh, "auth", "status", "--hostname", host],
            capture_output=True,
            env=_gh_env(),
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"no token in ${env_name}, and gh could not be asked for its login ({exc})"
    if status.returncode != 0:
        return None, f"no token in ${env_name}, and gh is not logged in to {host} (gh auth login)"
    return GhClient(gh, host, timeout=settings.TFACTORY_GITHUB_TIMEOUT_S), f"gh's login on {host}"


def find_pull(api: Api, slug: str, branch: str) -> int | None:
    """The number of the open pull request from `branch` in `slug` (the newest, if several)."""
    pulls = [p for p in api.open_pulls(slug, branch) if isinstance(p.get("number"), int)]
    return max(p["number"] for p in pulls) if pulls else None


def upsert_comment(
    api: Api,
    slug: str,
    number: int,
    body: str,
    mark: str,
    *,
    retries: int = 2,
    backoff: float = 1.0,
) -> tuple[str, str]:
    """Edit TFactory's earlier comment (the one carrying `mark`), or add one.

    Returns (created | updated, the comment's URL). A create that failed in transit may
    still have landed: the next try looks for the marker again before posting."""
    if mark not in body:
        body = f"{mark}\n{body}"
    for attempt in range(retries + 1):
        try:
            mine = [c for c in api.comments(slug, number) if mark in str(c.get("body") or "")]
            if mine:
                done = api.update_comment(slug, number, int(mine[-1]["id"]), body)
                return "updated", str(done.get("html_url") or mine[-1].get("html_url") or "")
            done = api.create_comment(slug, number, body)
            return "created", str(done.get("html_url") or "")
        except GitHubError as exc:
            if not exc.transient or attempt == retries:
                raise
            time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


_REMOTE = re.compile(
    r"^(?:[a-z+]+://(?:[^@/]+@)?[^/]+/|[A-Za-z0-9._-]+@[^:]+:)"
    r"(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/(?P<name>[A-Za-z0-9._-]{1,100}?)(?:\.git)?/?$"
)


def slug_of_url(url: str) -> str | None:
    """owner/name of a GitHub-style remote URL (https, ssh or scp-like), else None."""
    if not url or url.startswith("file:") or url.startswith("/"):
        return None
    m = _REMOTE.match(url.strip())
    if not m or m.group("name") in (".", ".."):
        return None
    return f"{m.group('owner')}/{m.group('name')}"
