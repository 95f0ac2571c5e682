"""The overview and the streams' timelines in Debian's chromium (playwright
only steers it), at 1280x900: signs in with UI_TOKEN, reads each labelled
figure, the charts and the day's timelines, takes screenshots, and prints
one JSON object of what it saw. With a third argument `banner`, only loads
the overview and reports its banners (the archive store is down then).

    UI_TOKEN=... ui_overview.py BASE_URL SCREENSHOT_DIR [banner]
"""

import json
import os
import sys

from playwright.sync_api import sync_playwright

base, shots = sys.argv[1], sys.argv[2]
only_banner = len(sys.argv) > 3 and sys.argv[3] == "banner"
seen = {}

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/ui/login")
    page.fill("input[name=token]", os.environ["UI_TOKEN"])
    page.locator("button", has_text="Sign in").click()
    page.wait_for_load_state()
    page.goto(f"{base}/ui/")
    seen["banners"] = {
        b.get_attribute("data-banner"): b.inner_text() for b in page.locator(".banner").all()
    }
    if only_banner:
        page.screenshot(path=f"{shots}/ui-overview-store-down.png", full_page=False)
        print(json.dumps(seen))
        sys.exit(0)
    seen["figures"] = {
        f.get_attribute("data-figure"): {
            "value": f.locator(".value").inner_text(),
            "label": f.locator(".label").inner_text(),
        }
        for f in page.locator(".figure").all()
    }
    seen["captions"] = [c.inner_text() for c in page.locator("figcaption").all()]
    # Bars drawn with a height: hours in which something was archived.
    seen["bars"] = [
        len([r for r in fig.locator("rect.bar").all() if float(r.get_attribute("height")) > 0])
        for fig in page.locator("figure.chart").all()
        if fig.locator("rect.bar").count()
    ]
    seen["bar_counts"] = [
        fig.locator("rect.bar").count()
        for fig in page.locator("figure.chart").all()
        if fig.locator("rect.bar").count()
    ]
    seen["backlog_lines"] = page.locator("figure.chart polyline").count()
    seen["reasons"] = page.locator("table.ranking").inner_text()
    seen["overview_width"] = page.evaluate("document.scrollingElement.scrollWidth")
    page.screenshot(path=f"{shots}/ui-overview.png", full_page=True)

    page.goto(f"{base}/ui/streams")
    rows = {}
    for r in page.locator("tr[data-stream]").all():
        rows[r.get_attribute("data-stream")] = {
            "text": r.inner_text(),
            "recordings": r.locator("svg.timeline rect.rec").count(),
            "gaps": r.locator("svg.timeline rect.gap").count(),
            "failed": r.locator("svg.timeline path.fail").count(),
        }
    seen["streams"] = rows
    seen["streams_width"] = page.evaluate("document.scrollingElement.scrollWidth")
    page.screenshot(path=f"{shots}/ui-streams.png", full_page=True)

print(json.dumps(seen))
