"""What a page must never show a person's browser: console errors, uncaught exceptions, and
requests that failed or were answered with an error status."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.async_api import ConsoleMessage, Page, Request, Response


@dataclass
class PageProblems:
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    # Hosts whose refused requests the test causes itself (for example an S3 held back).
    expected_hosts: set[str] = field(default_factory=set)

    def found(self) -> list[str]:
        return self.console + self.requests

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console.append(f"console: {message.text} at {message.location.get('url')}")

    def on_request_failed(self, request: Request) -> None:
        failure = request.failure or ""
        # A player or a navigation cancelling a load it no longer needs is not a failure.
        if "ERR_ABORTED" in failure or urlsplit(request.url).netloc in self.expected_hosts:
            return
        self.requests.append(f"failed: {request.method} {_path(request.url)} {failure}")

    def on_response(self, response: Response) -> None:
        if response.status >= 400 and urlsplit(response.url).netloc not in self.expected_hosts:
            self.requests.append(
                f"{response.status}: {response.request.method} {_path(response.url)}"
            )


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"  # never the query: signed URLs carry credentials


def watch_for_problems(page: Page) -> PageProblems:
    problems = PageProblems()
    page.on("console", problems.on_console)
    page.on("pageerror", lambda error: problems.console.append(f"uncaught: {error}"))
    page.on("requestfailed", problems.on_request_failed)
    page.on("response", problems.on_response)
    return problems
