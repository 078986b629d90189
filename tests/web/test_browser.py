"""The web app in a real browser (Debian's chromium through Playwright) against the real stack:
the dev server, the package's worker, the API app behind uvicorn, one campaign for the module.

Each page's screenshot is taken and checked to be a PNG; it is written to ``docs/screenshots/``
(shown in the README) only with ``FOLLOWTHROUGH_WRITE_SCREENSHOTS=1``, otherwise to a temporary
directory, so a run leaves the checkout as it found it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from followthrough.catalog import build_worker, create_app
from followthrough.config import load_settings
from followthrough.services import Services
from followthrough.store.models import InboundMessage, Lead
from followthrough.store.repositories import ApiKeys, CampaignExecutions, SenderAccounts
from tests.conftest import API_KEY, copy_sqlite, serving

pytestmark = pytest.mark.devserver

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LEADS = 4
GRAPH = {
    "nodes": [
        {"id": "visit", "kind": "action", "action": "profile_visit"},
        {"id": "wait", "kind": "delay", "duration": 3, "unit": "calendar", "calendar_unit": "days"},
        {"id": "replied", "kind": "condition", "condition": "replied", "within_days": 5},
        {"id": "hello", "kind": "action", "action": "send_message", "config": {"template": "Hi {first_name}"}},
        {"id": "won", "kind": "goal"},
        {"id": "give_up", "kind": "end"},
    ],
    "edges": [
        {"source": "visit", "target": "wait"},
        {"source": "wait", "target": "replied"},
        {"source": "replied", "target": "won", "branch": "true"},
        {"source": "replied", "target": "hello", "branch": "false"},
        {"source": "hello", "target": "give_up"},
    ],
}


@dataclass
class Stack:
    base: str
    services: Services
    key: str  # org-web's key
    other_campaign: str  # org-other's
    campaign: str = ""

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, headers={"Authorization": f"Bearer {self.key}"}, timeout=20)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 40) -> None:
    for _ in range(int(seconds / 0.25)):
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"never: {what}")


async def always_open_sender(services: Services, organization: str) -> str:
    account = await SenderAccounts(services.database).create(
        organization_id=organization,
        display_name="Ana",
        working_hours={"start": "00:00", "end": "00:00"},
        working_days=[1, 2, 3, 4, 5, 6, 7],
        min_action_spacing_seconds=0,
        max_action_spacing_seconds=0,
    )
    return account.id


@pytest.fixture(scope="module")
async def stack(
    dev_client: Client, tmp_path_factory: pytest.TempPathFactory, migrated_sqlite_template: Path
) -> AsyncIterator[Stack]:
    home = tmp_path_factory.mktemp("web")
    settings = load_settings(
        followthrough_home=home / "home",
        temporal_task_queue=f"tq-web-{home.name}",
        database_url=f"sqlite+aiosqlite:///{home / 'store.db'}",
        followthrough_rate_limit_prefix=f"test:web:{home.name}",
        followthrough_temporal_ui_url="http://temporal-ui.test",
    )
    copy_sqlite(migrated_sqlite_template, settings.effective_database_url)
    services = await Services.open(settings)
    keys = ApiKeys(services.database)
    mine, other = await keys.create("org-web", ["read", "write"]), await keys.create("org-other", ["read", "write"])
    app = create_app(settings, api_key=API_KEY, services=services, client=dev_client)
    try:
        async with build_worker(dev_client, services), serving(app) as base:
            async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {other.key}"}) as theirs:
                sender = await always_open_sender(services, "org-other")
                body = {"name": "Their campaign", "organizationId": "org-other", "senderAccountId": sender}
                created = await theirs.post("/api/campaigns", json={**body, "graph": GRAPH, "leads": []})
                assert created.status_code == 201, created.text
            yield Stack(base=base, services=services, key=mine.key, other_campaign=created.json()["campaign_id"])
    finally:
        await services.close()


@pytest.fixture(scope="module")
async def browser(stack: Stack) -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="module")
async def page(browser: Any, stack: Stack) -> AsyncIterator[Any]:
    """One signed-in page for the module (the sign-in test signs in through the form)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, base_url=stack.base)
    page = await context.new_page()
    yield page
    await context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: the README's ``docs/screenshots/`` when asked to refresh them
    (``FOLLOWTHROUGH_WRITE_SCREENSHOTS=1``), else a temporary directory."""
    if os.environ.get("FOLLOWTHROUGH_WRITE_SCREENSHOTS", "") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SHOTS
    return tmp_path_factory.mktemp("screenshots")


async def shot(page: Any, shots: Path, name: str) -> None:
    path = shots / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"no screenshot of {name} at {path}"


async def test_sign_in_with_an_organizations_key(page: Any, stack: Stack, shots: Path) -> None:
    await page.goto("/app/campaigns")
    assert page.url.endswith("/app/sign-in")  # no session: the form
    await page.get_by_label("API key").fill("ft_k_000000000000_" + "x" * 43)
    await page.get_by_role("button", name="Sign in").click()
    assert await page.get_by_role("alert").inner_text() == "That key is not an active organization key."
    await shot(page, shots, "sign-in")
    await page.get_by_label("API key").fill(stack.key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/app/campaigns")
    assert await page.locator("header .org").inner_text() == "org-web"
    cookies = await page.context.cookies()
    assert [c["name"] for c in cookies] == ["ft_session"]
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    assert stack.key not in cookies[0]["value"] and stack.key not in page.url


async def test_a_running_campaigns_funnel_equals_its_status_route(page: Any, stack: Stack, shots: Path) -> None:
    async with stack.api() as api:
        sender = await always_open_sender(stack.services, "org-web")
        leads = [{"linkedin_id": f"web-lead-{i}", "first_name": f"Lead {i}"} for i in range(LEADS)]
        body = {"name": "Spring founders", "organizationId": "org-web", "senderAccountId": sender}
        created = await api.post("/api/campaigns", json={**body, "graph": GRAPH, "leads": leads})
        stack.campaign = created.json()["campaign_id"]
        start = {"organizationId": "org-web", "maxConcurrentLeads": 10, "leadProcessingDelay": 0}
        assert (await api.post(f"/api/campaigns/{stack.campaign}/start", json=start)).status_code == 202

        async def all_resting_at_the_delay() -> bool:
            totals = ((await api.get(f"/api/campaigns/{stack.campaign}/status")).json()["orchestrator"] or {}).get(
                "totals"
            )
            if not totals or totals["running"] != LEADS or totals["pending"] != 0:
                return False
            await page.goto(f"/app/campaigns/{stack.campaign}")
            return await page.locator('[data-node="wait"]').get_attribute("data-waiting") == str(LEADS)

        await eventually(all_resting_at_the_delay, "every lead visited and waiting at the delay")
        status = (await api.get(f"/api/campaigns/{stack.campaign}/status")).json()

    totals = status["orchestrator"]["totals"]
    nodes = {}
    for node in await page.locator("g.node").all():
        values = [await node.get_attribute(f"data-{n}") for n in ("node", "reached", "passed", "waiting", "failed")]
        nodes[values[0]] = tuple(int(v) for v in values[1:])
    started = totals["total"] - totals["pending"]
    assert nodes["visit"] == (started, started, 0, 0)  # reached, passed, waiting, failed
    assert nodes["wait"] == (totals["running"], 0, totals["running"], 0)
    assert sum(n[2] for n in nodes.values()) == totals["running"]
    assert sum(n[3] for n in nodes.values()) == totals["failed"]
    shown = {name: int(await page.locator(f'[data-total="{name}"]').inner_text()) for name in totals}
    assert shown == totals
    assert await page.get_by_test_id("state").inner_text() == "running"
    visits = await page.locator('[data-cap="profile_visit today"]').inner_text()
    assert visits.startswith(f"{LEADS} / ")  # the sender's coordinator granted one visit a lead
    await shot(page, shots, "campaign")
    await page.goto("/app/campaigns")
    row = page.get_by_role("row", name="Spring founders")
    assert "in_progress 4" in " ".join((await row.inner_text()).split())
    await shot(page, shots, "campaigns")


async def test_another_organizations_campaign_is_not_visible_and_its_url_is_not_found(page: Any, stack: Stack) -> None:
    await page.goto("/app/campaigns")
    assert await page.get_by_role("link", name="Their campaign").count() == 0
    foreign = await page.goto(f"/app/campaigns/{stack.other_campaign}")
    foreign_text = await page.locator("main").inner_text()
    missing = await page.goto("/app/campaigns/no-such-campaign")
    assert foreign.status == missing.status == 404
    assert foreign_text == await page.locator("main").inner_text()


async def test_a_leads_timeline_lists_its_follow_ups_at_their_instants(page: Any, stack: Stack, shots: Path) -> None:
    triggered = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
    lead = {"id": "web-cold-lead", "phone": "+34600111333", "name": "Ana"}
    body = {"lead": lead, "type": "cold_lead_reengagement", "triggered_at": triggered.isoformat()}
    async with stack.api() as api:
        started = await api.post("/api/followups", json=body)
        assert started.status_code == 202, started.text

    due = [triggered + timedelta(hours=h) for h in (168, 60, 24)]  # newest first

    async def listed() -> bool:
        await page.goto("/app/leads/web-cold-lead")
        return await page.locator('li[data-kind="follow-up"]').count() == 3

    await eventually(listed, "the follow-up's three steps on the timeline")
    steps = page.locator('li[data-kind="follow-up"]')
    instants = [datetime.fromisoformat(await t.get_attribute("datetime")) for t in await steps.locator("time").all()]
    assert instants == due
    assert "scheduled" in await steps.first.inner_text()
    link = await steps.first.get_by_role("link", name="execution ↗").get_attribute("href")
    assert link.startswith("http://temporal-ui.test/namespaces/default/workflows/followup-web-cold-lead-")
    await shot(page, shots, "lead-timeline")
    missing = await page.goto("/app/leads/someone-elses-lead")
    assert missing.status == 404


async def test_a_leads_timeline_shows_its_campaign_actions_and_messages(page: Any, stack: Stack, shots: Path) -> None:
    runs = await CampaignExecutions(stack.services.database).for_campaign(stack.campaign)
    await page.goto(f"/app/leads/{runs[0].lead_id}")
    actions = page.locator('li[data-kind="campaign"]')
    texts = await actions.all_inner_texts()
    assert any("Spring founders: visit (profile_visit) done" in t for t in texts), texts
    assert any("Spring founders: lead started" in t for t in texts), texts

    # a lead who wrote to us (what the WhatsApp webhook records), then a follow-up due in seconds
    now = datetime.now(UTC)
    async with stack.services.database.session() as session:
        session.add(Lead(id="web-msg-lead", phone="+34600111555", organization_id="org-web", last_inbound_at=now))
        await session.flush()
        session.add(
            InboundMessage(
                lead_id="web-msg-lead", provider_message_id="wamid.web-msg", text="Can we talk?", received_at=now
            )
        )
    triggered = now - timedelta(hours=24) + timedelta(seconds=4)
    lead = {"id": "web-msg-lead", "phone": "+34600111555", "name": "Cris"}
    body = {"lead": lead, "type": "cold_lead_reengagement", "triggered_at": triggered.isoformat()}
    async with stack.api() as api:
        started = await api.post("/api/followups", json=body)
        assert started.status_code == 202, started.text

    # the outbox records the message inside the send activity; the workflow marks the step sent only
    # once that activity's result reaches it, a moment later: wait for both
    async def sent() -> bool:
        await page.goto("/app/leads/web-msg-lead")
        followups = await page.locator('li[data-kind="follow-up"]').all_inner_texts()
        out = any("Follow-up “24h” sent" in t for t in followups)
        return out and await page.locator('li[data-kind="message"]').count() == 2

    await eventually(sent, "the message in, the follow-up's message out and its step marked sent")
    messages = await page.locator('li[data-kind="message"]').all_inner_texts()
    assert messages[0].split(" ", 2)[2].startswith("Message out via") and "Can we talk?" in messages[1]
    await shot(page, shots, "lead-timeline-messages")


async def test_today_lists_the_follow_ups_due_in_the_next_24_hours(page: Any, stack: Stack, shots: Path) -> None:
    lead = {"id": "web-later-lead", "phone": "+34600111444", "name": "Bea"}
    async with stack.api() as api:
        started = await api.post("/api/followups", json={"lead": lead, "type": "said_later"})
        assert started.status_code == 202, started.text
    due = datetime.fromisoformat(started.json()["steps"][0]["due_at"])  # 12 h from now

    async def listed() -> bool:
        await page.goto("/app/today")
        return await page.locator('#followups li[data-lead="web-later-lead"]').count() == 1

    await eventually(listed, "the said-later follow-up among today's")
    row = page.locator('#followups li[data-lead="web-later-lead"]')
    assert datetime.fromisoformat(await row.locator("time").get_attribute("datetime")) == due
    # the cold lead's steps are days away (2030): not today's
    assert await page.locator('#followups li[data-lead="web-cold-lead"]').count() == 0
    await shot(page, shots, "today")


#: For every element with text of its own (and every SVG text): its colour's contrast ratio
#: (WCAG 2) against the background it is drawn on, computed from the page's CSS colours.
LOW_CONTRAST_JS = """() => {
  const rgb = (s) => { const m = /rgba?\\(([^)]+)\\)/.exec(s || ""); return m ? m[1].split(",").map(Number) : null; };
  const lum = (c) => { const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const background = (el) => { for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor); if (c && (c.length < 4 || c[3] > 0)) return c; }
    return [255, 255, 255]; };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    let fg, bg;
    if (el.closest("svg")) {
      const box = el.closest("g.node") && el.closest("g.node").querySelector("rect");
      fg = rgb(style.fill); bg = box ? rgb(getComputedStyle(box).fill) : background(el.closest("svg"));
    } else { fg = rgb(style.color); bg = background(el); }
    const r = ratio(fg, bg);
    const name = `${el.tagName}.${el.className.baseVal ?? el.className}`;
    if (r < 4.5) low.push(`${name} "${el.textContent.trim().slice(0, 20)}" ${r.toFixed(2)}`);
  }
  return low;
}"""
CONTROLS = {"button", "textbox", "checkbox", "combobox", "link", "meter", "progressbar", "searchbox", "spinbutton"}


async def unnamed_controls(page: Any) -> list[str]:
    """The form controls and links without an accessible name, from Chromium's accessibility tree."""
    cdp = await page.context.new_cdp_session(page)
    try:
        tree = await cdp.send("Accessibility.getFullAXTree")
    finally:
        await cdp.detach()
    return [
        f"{node['role']['value']} #{node.get('backendDOMNodeId')}"
        for node in tree["nodes"]
        if not node.get("ignored")
        and node.get("role", {}).get("value") in CONTROLS
        and not str((node.get("name") or {}).get("value") or "").strip()
    ]


async def test_pages_are_accessible_and_fit_a_phone(browser: Any, page: Any, stack: Stack, shots: Path) -> None:
    pages = ["/app/campaigns", f"/app/campaigns/{stack.campaign}", "/app/today", "/app/leads/web-cold-lead"]
    for path in pages:
        await page.goto(path)
        assert await unnamed_controls(page) == [], path
        assert await page.evaluate(LOW_CONTRAST_JS) == [], path
    await page.goto(f"/app/campaigns/{stack.campaign}")
    reached = []
    for _ in range(30):  # from the top of the page, by keyboard only
        await page.keyboard.press("Tab")
        reached.append(await page.evaluate("document.activeElement.textContent.trim()"))
        if reached[-1] == "Pause":
            break
    assert reached[0] == "Skip to content" and reached[-1] == "Pause", reached

    phone = await browser.new_context(
        viewport={"width": 390, "height": 844}, base_url=stack.base, is_mobile=True, has_touch=True
    )
    try:
        await phone.add_cookies(await page.context.cookies())  # the same session
        small = await phone.new_page()
        for path, name in [(f"/app/campaigns/{stack.campaign}", "campaign-phone"), ("/app/today", "today-phone")]:
            await small.goto(path)
            assert await small.evaluate("document.documentElement.scrollWidth") <= 390, path  # no sideways scroll
            await shot(small, shots, name)
    finally:
        await phone.close()


async def test_content_approved_or_rejected_on_today_moves_its_pipeline_on(
    page: Any, stack: Stack, dev_client: Client
) -> None:
    verdicts = {"web-approve": ("Approve", "approved"), "web-reject": ("Reject", "rejected")}
    async with stack.api() as api:
        for content_id in verdicts:
            body = {"content_id": content_id, "brief": {"topic": "Follow-ups that land"}, "max_rounds": 1}
            started = await api.post("/api/content", json=body)
            assert started.status_code == 202, started.text

    async def both_listed() -> bool:
        await page.goto("/app/today")
        return all([await page.locator(f'li[data-content="{c}"]').count() == 1 for c in verdicts])

    await eventually(both_listed, "both drafts awaiting review on Today")
    for content_id, (verdict, notes) in verdicts.items():
        item = page.locator(f'li[data-content="{content_id}"]')
        await item.get_by_label("Notes for").fill(f"{notes} from the web")
        await item.get_by_role("button", name=f"{verdict} “").click()
        await page.wait_for_url("**/app/today")
    approved = await dev_client.get_workflow_handle("content-web-approve").result()
    rejected = await dev_client.get_workflow_handle("content-web-reject").result()
    assert approved["stage"] == "published" and rejected["stage"] == "rejected"
    assert [(r["approved"], r["notes"]) for r in approved["reviews"]] == [(True, "approved from the web")]
    assert [(r["approved"], r["notes"]) for r in rejected["reviews"]] == [(False, "rejected from the web")]
    assert approved["reviews"][0]["reviewer"].startswith("web:")
    await page.goto("/app/today")
    assert await page.locator("li[data-content]").count() == 0


async def test_pause_from_the_page_pauses_the_workflow(
    page: Any, stack: Stack, dev_client: Client, shots: Path
) -> None:
    await page.goto(f"/app/campaigns/{stack.campaign}")
    await page.get_by_role("button", name="Pause").click()
    await page.wait_for_url(f"**/app/campaigns/{stack.campaign}")
    handle = dev_client.get_workflow_handle(f"campaign-{stack.campaign}")

    async def paused() -> bool:
        return (await handle.query("status"))["state"] == "paused"

    await eventually(paused, "the orchestrator reports paused")
    await page.reload()
    assert await page.get_by_test_id("state").inner_text() == "paused"
    await page.get_by_role("link", name="Stop…").click()
    await shot(page, shots, "stop-confirmation")
    await page.get_by_role("button", name="Stop the campaign").click()

    async def stopped() -> bool:
        status = (await handle.describe()).status
        return status is not None and status.name == "COMPLETED"

    await eventually(stopped, "the orchestrator completed after the stop")
