"""The console in a real browser: Playwright drives headless Chromium (Debian's package)
against a real uvicorn and Redis holding a materialized run. Each test saves a screenshot
under ``.local/screenshots/``.

What the page shows is compared with what the API answers for the same filter, so the page
can only pass by showing the API's numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from devtools.browser import chromium_path
from devtools.demo_serving import running_api
from devtools.services import free_port
from kairos.settings import Settings
from serving import auth
from tests.integration.serving.conftest import Api, audience_rows, publish

SHOTS = Path(__file__).resolve().parents[3] / ".local" / "screenshots"
pytestmark = pytest.mark.node_only("the page reads the same routes on either topology")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    opened = context.new_page()
    yield opened
    SHOTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(SHOTS / f"{request.node.originalname}.png"), full_page=True)
    context.close()


@pytest.fixture
def live(api: Api, server: str) -> str:
    publish(api.redis, api.layout, audience_rows(600))
    return server


def sign_in(page: Page, server: str, key: str, view: str = "audience") -> None:
    page.goto(f"{server}/console#{view}")
    page.fill("#api-key", key)
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()  # /v1/me answered


def api_get(server: str, api: Api, path: str, **params: Any) -> Any:
    answer = requests.get(
        f"{server}{path}", params=params, headers=api.auth("marketing"), timeout=10
    )
    answer.raise_for_status()
    return answer.json()


def shown_total(page: Page, total: int) -> None:
    expect(page.locator("#selected-count")).to_have_attribute("data-total", str(total))


def test_the_threshold_and_a_segment_show_the_apis_counts(api: Api, live: str, page: Page) -> None:
    sign_in(page, live, api.keys["marketing"])
    expect(page.locator("#role-note")).to_contain_text("read audiences")
    page.locator("#threshold").fill("0.8")
    expected = api_get(live, api, "/v1/audiences/count", min_score=0.8)
    shown_total(page, expected["total"])
    for channel, reach in expected["reach"].items():
        expect(page.locator(f"#reach-{channel}")).to_have_text(f"{reach:,}")
    expect(page.locator("#histogram rect")).to_have_count(20)

    page.select_option("#segment", "at_risk")
    in_segment = api_get(live, api, "/v1/audiences/count", min_score=0.8, segment="at_risk")
    shown_total(page, in_segment["total"])
    assert in_segment["total"] < expected["total"]
    top = api_get(live, api, "/v1/audiences", min_score=0.8, segment="at_risk", limit=20)
    expect(page.locator("#top-ids tr")).to_have_count(len(top["customers"]))
    expect(page.locator("#top-ids tr").first).to_contain_text(top["customers"][0]["customer_id"])

    page.select_option("#decile-to", "2")
    deciles = api_get(
        live,
        api,
        "/v1/audiences/count",
        min_score=0.8,
        segment="at_risk",
        decile_from=1,
        decile_to=2,
    )
    shown_total(page, deciles["total"])


def test_the_export_downloads_what_the_api_exports(api: Api, live: str, page: Page) -> None:
    sign_in(page, live, api.keys["marketing"])
    page.locator("#threshold").fill("0.65")
    page.select_option("#segment", "champions")
    shown_total(
        page,
        api_get(live, api, "/v1/audiences/count", min_score=0.65, segment="champions")["total"],
    )
    with page.expect_download() as download:
        page.click("#export")
    downloaded = Path(download.value.path()).read_bytes().decode()
    direct = requests.get(
        f"{live}/v1/audiences/export",
        params={"min_score": 0.65, "segment": "champions"},
        headers=api.auth("marketing"),
        timeout=10,
    ).text
    assert downloaded == direct and downloaded.count("\n") > 1
    expect(page.locator("#export-note")).to_contain_text(
        f"{downloaded.count(chr(10)) - 1:,} customers exported"
    )


def test_a_role_that_may_not_read_audiences_is_told_so(api: Api, live: str, page: Page) -> None:
    sign_in(page, live, api.keys["ingest"])
    expect(page.locator("#error")).to_contain_text(
        "Not allowed for your role: role 'ingest' may not read audiences"
    )
    expect(page.locator("#error")).to_have_attribute("data-status", "403")


def test_a_revoked_key_is_told_to_sign_in_again(api: Api, live: str, page: Page) -> None:
    key = auth.add_key(api.settings.api_keys_file, "short-lived", "marketing")
    sign_in(page, live, key)
    # The audience view's requests must be answered first: one still in flight when the key
    # is revoked gets the 401, signs the page out (the key leaves session storage), and the
    # reload then finds no key to try (CI, under load, once).
    page.wait_for_load_state("networkidle")
    auth.revoke_key(api.settings.api_keys_file, "short-lived")
    page.reload()
    expect(page.locator("#error")).to_contain_text("unknown or has been revoked")
    expect(page.locator("#sign-in")).to_be_visible()


def test_redis_down_is_said_in_words(api: Api, page: Page) -> None:
    dead = Settings(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        api_keys_file=api.settings.api_keys_file,
        triggers_file=api.settings.triggers_file,
    )
    with running_api(dead) as base:
        sign_in(page, base, api.keys["admin"])
        expect(page.locator("#error")).to_contain_text("Redis is down")
        expect(page.locator("#error")).to_have_attribute("data-status", "503")


def test_segments_triggers_and_health_views(api: Api, live: str, page: Page) -> None:
    sign_in(page, live, api.keys["admin"], view="segments")
    grid = api_get(live, api, "/v1/segments")["grid"]
    cell = next(c for c in grid if c["customers"])
    expect(
        page.locator(f"#rfm-grid td[data-r='{cell['r']}'][data-fm='{cell['fm']}'] .n")
    ).to_have_text(f"{cell['customers']:,}")
    expect(page.locator("#rfm-grid td")).to_have_count(25)

    page.click("#tab-triggers")
    pause = page.locator("button[data-rule='cart_rescue_high_intent'][data-verb='pause']").first
    variant = pause.get_attribute("data-variant")
    pause.click()
    expect(
        page.locator(f"button[data-rule='cart_rescue_high_intent'][data-variant='{variant}']")
    ).to_have_attribute("data-verb", "unpause")
    rules = requests.get(f"{live}/v1/admin/rules", headers=api.auth("admin"), timeout=10).json()
    paused = {
        v["name"]: v["paused"]
        for r in rules["rules"]
        if r["name"] == "cart_rescue_high_intent"
        for v in r["variants"]
    }
    assert paused[variant] is not None and paused[variant]["by"] == "admin:admin"
    page.click(f"button[data-rule='cart_rescue_high_intent'][data-variant='{variant}']")
    expect(
        page.locator(f"button[data-rule='cart_rescue_high_intent'][data-variant='{variant}']")
    ).to_have_attribute("data-verb", "pause")

    page.click("#tab-health")
    live_run = api_get(live, api, "/v1/health")["live"]["run"]
    expect(page.locator("#health-live")).to_contain_text(live_run)
    expect(page.locator("#health-runs")).to_contain_text("live")


def test_phone_width_and_keyboard(
    api: Api, live: str, browser: Browser, request: pytest.FixtureRequest
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(f"{live}/console")
        page.keyboard.press("Tab")  # the key field is the first thing to reach
        page.keyboard.type(api.keys["marketing"])
        page.keyboard.press("Enter")
        expect(page.locator("#app")).to_be_visible()
        shown_total(page, api_get(live, api, "/v1/audiences/count", min_score=0.8)["total"])
        page.focus("#tab-audience")
        page.keyboard.press("ArrowRight")
        expect(page.locator("#view-segments")).to_be_visible()
        expect(page.locator("#tab-segments")).to_be_focused()
        expect(page.locator("#rfm-grid td")).to_have_count(25)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide at 390 px"
    finally:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{request.node.originalname}.png"), full_page=True)
        context.close()


def test_no_live_run_is_said_in_words(api: Api, server: str, page: Page) -> None:
    sign_in(page, server, api.keys["marketing"])  # this Redis holds no run
    expect(page.locator("#error")).to_contain_text("No live scores yet")


CONTRAST = """() => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, b] = rgb(c).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (node) => {
    for (; node; node = node.parentElement) {
      const c = getComputedStyle(node).backgroundColor;
      if (!c.startsWith("rgba(0, 0, 0, 0)") && c !== "transparent") return c;
    }
    return "rgb(255, 255, 255)";
  };
  const seen = [];
  const texts = "h1, h2, h3, p, label, button, th, td, dt, dd, span, a, li, #error";
  for (const node of document.querySelectorAll(texts)) {
    if (!node.offsetParent && node.id !== "error") continue;
    if (!node.textContent.trim()) continue;
    const fg = getComputedStyle(node).color, bg = background(node);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    seen.push({ text: node.textContent.trim().slice(0, 30), ratio: (hi + 0.05) / (lo + 0.05) });
  }
  return seen;
}"""


def test_every_text_has_enough_contrast(api: Api, live: str, page: Page) -> None:
    """WCAG AA: 4.5:1 for text, computed from the colours the browser applies."""
    sign_in(page, live, api.keys["admin"])
    shown_total(page, api_get(live, api, "/v1/audiences/count", min_score=0.8)["total"])
    checked = []
    for view in ("audience", "segments", "triggers", "health"):
        page.click(f"#tab-{view}")
        page.wait_for_load_state("networkidle")
        checked += page.evaluate(CONTRAST)
    poor = [c for c in checked if c["ratio"] < 4.5]
    assert len(checked) > 100 and not poor, poor[:10]
