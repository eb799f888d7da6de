"""Attacks on the marketer's console: markup in the data it shows must stay text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from devtools.browser import chromium_path
from tests.integration.serving.conftest import Api, audience_rows, publish

HOSTILE = '<img src=x onerror="window.pwned=1">'


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield browser.new_page()
        browser.close()


def test_markup_in_a_customer_id_is_shown_as_text_never_run(
    api: Api, server: str, page: Page
) -> None:
    """Stored XSS: ids reach Redis from the lake, and the console lists them. The API's id
    contract refuses markup, so the attack would have to come through the lake; the page
    still puts every value in as text (``textContent``), never as HTML."""
    rows = audience_rows(50)
    rows[0]["customer_id"], rows[0]["score"] = HOSTILE, 0.999
    publish(api.redis, api.layout, rows)
    page.goto(f"{server}/console")
    page.fill("#api-key", api.keys["marketing"])
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#top-ids tr").first).to_contain_text(HOSTILE)
    assert page.locator("#top-ids img").count() == 0
    assert page.evaluate("window.pwned") is None


def test_a_key_in_the_address_never_signs_in(api: Api, server: str, page: Page) -> None:
    """A key put in a link (``/console?key=...``, ``#key=...``) would leak through history and
    referrers; the console reads a key only from its sign-in field and session storage."""
    key = api.keys["admin"]
    page.goto(f"{server}/console?key={key}#key={key}")
    expect(page.locator("#sign-in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    expect(page.locator("#app")).to_be_hidden()
